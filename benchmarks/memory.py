"""Peak resident memory of the VGG-16 forward (batch 8, 224×224, no graph),
ours and PyTorch's, each in a fresh process of its own.

The child process imports its library, builds the network and the batch,
notes its resident set (VmRSS), resets the kernel's record of its peak
(writing 5 to ``/proc/self/clear_refs``), runs one forward pass and reads
the peak back (VmHWM, both from ``/proc/self/status``). VmHWM is the figure
behind ``resource.getrusage``'s ``ru_maxrss``, without what ru_maxrss also
carries over from the parent process that forked the child.
Reported:

    forward   peak during the forward - resident set before it  (activations,
              im2col columns, BLAS buffers: what the forward itself adds)
    total     that peak - the resident set after the imports     (the weights too)

Run alone: ``python -m benchmarks.memory``; one side: ``python -m
benchmarks.memory --child ours`` (or ``torch``) prints its figures as JSON.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from .timing import Row, Settings, markdown_table

TARGET = 1.5


def status_mb(field):
    """A field of /proc/self/status ("VmRSS", "VmHWM"), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # the file gives kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def ours_forward(net_name, batch, size):
    import numpy as np

    from caption.cnn import build
    from nnscratch import no_grad
    start = status_mb("VmRSS")
    net = build(net_name, weights=False, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((batch, 3, size, size), dtype=np.float32)

    def forward():
        with no_grad():
            net(x)
    return start, forward


def torch_forward(net_name, batch, size):
    import torch

    from . import torch_models
    start = status_mb("VmRSS")
    net = getattr(torch_models, net_name)()
    x = torch.randn(batch, 3, size, size)

    def forward():
        with torch.no_grad():
            net(x)
    return start, forward


def child(side, net_name, batch, size):
    """Measure one side in this process; returns {"forward": MB, "total": MB}."""
    start, forward = (ours_forward if side == "ours" else torch_forward)(net_name, batch, size)
    before = status_mb("VmRSS")
    reset_peak()
    forward()
    peak = status_mb("VmHWM")
    return {"forward": peak - before, "total": peak - start}


def measure(side, net_name, batch, size):
    command = [sys.executable, "-m", "benchmarks.memory", "--child", side, "--net", net_name,
               "--batch", str(batch), "--size", str(size)]
    output = subprocess.run(command, check=True, capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout
    return json.loads(output.strip().splitlines()[-1])


def run(settings):
    # quick: the same code on SqueezeNet, which builds in a moment
    net_name, batch, size = ("squeezenet", 1, 67) if settings.quick else ("vgg16", 8, 224)
    ours, theirs = measure("ours", net_name, batch, size), measure("torch", net_name, batch, size)
    label = f"{net_name} forward, batch {batch}, {size}×{size}"
    return [Row("memory", f"{label}: peak added by the forward", ours["forward"],
                theirs["forward"], TARGET, unit="MB"),
            Row("memory", f"{label}: peak with the weights", ours["total"], theirs["total"],
                unit="MB")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("ours", "torch"))
    parser.add_argument("--net", default="vgg16", choices=("vgg16", "squeezenet"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.net, args.batch, args.size)))
    else:
        print(markdown_table("Peak resident memory", run(Settings.make(quick=False))))


if __name__ == "__main__":
    main()
