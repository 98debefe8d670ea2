"""Our CPU path against our GPU path against PyTorch with cuDNN (thesis §4.2–4.3).

    python benchmarks/gpu.py [--out DIR] [--results-md FILE] [--budget SECONDS]
                             [--pytest-summary LINE]

For a machine with an NVIDIA GPU, CuPy and PyTorch; ``benchmarks/gpu_check.sh``
runs it after ``pytest -m gpu``. What is timed, all in float32:

    conv2d     the VGG-16 shapes at batch 8 (3×3, pad 1): forward, forward+backward
    lstm       batch 128, 16 steps, 512 -> 512, forward+backward, against torch.nn.LSTM
    vgg16      forward at batch 32 (random weights) on the GPU; ours on the CPU at
               batch 2, per image
    captioner  one training step of the caption generator (the small CNN and an LSTM,
               batch 32, Adam, gradient clipping) on the CPU and on the GPU

PyTorch runs with TF32 off (``torch.backends.cudnn.allow_tf32`` and
``torch.backends.cuda.matmul.allow_tf32`` False) and cuDNN autotuning on;
CuPy's products use TF32 only when CUPY_TF32=1, which the table reports.
Each time is the median of repeated runs after one warm-up run (kernel
compilation, autotuning), with the device synchronised around every run.
Each section has a time box and its own try/except: a failure is printed and
recorded, and the other sections still run. The table is rewritten after
every section, to DIR/gpu.md and DIR/gpu.json and into the GPU section of
``--results-md``, so an interrupted run keeps what it measured.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

from nnscratch.backend import cupy, gpu_available  # noqa: E402

SECTION_BEGIN, SECTION_END = "<!-- gpu benchmarks: begin -->", "<!-- gpu benchmarks: end -->"
SHAPES_EPOCH_STEPS = 188  # 6000 training images of the shapes set in batches of 32
VGG_BATCH, VGG_CPU_BATCH = 32, 2  # VGG-16 forward: the batch on the GPU, and on the CPU


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/gpu.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"),
                   help="folder for gpu.json and gpu.md (default: benchmarks/results)")
    p.add_argument("--results-md", default=str(ROOT / "benchmarks" / "RESULTS.md"),
                   help="Markdown file whose GPU section is replaced by the table ('' for none)")
    p.add_argument("--budget", type=float, default=200.0,
                   help="seconds for all sections together (default: 200)")
    p.add_argument("--pytest-summary", default=None,
                   help="the last line of `pytest -m gpu`, shown above the table")
    return p.parse_args(argv)


# -- timing --------------------------------------------------------------------

def measure(run, sync, deadline, repeats=5, at_least=2):
    """Median seconds of ``run()`` after one warm-up: ``repeats`` runs, or fewer
    (never under ``at_least``) once ``deadline`` (a perf_counter time) has passed."""
    run()
    sync()
    times = []
    while len(times) < at_least or (len(times) < repeats and time.perf_counter() < deadline):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def no_sync():
    pass


def past(deadline):
    """True once ``deadline`` has passed: the rest of a section is skipped."""
    return time.perf_counter() > deadline


def gpu_sync():
    cupy.cuda.Device().synchronize()


def relative_error(ours, theirs):
    """max |ours - theirs| / max |theirs|, on the host."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))


# -- the report ------------------------------------------------------------------

class Report:
    """Rows of the table, the machine's description and the errors; saved after each change."""

    COLUMNS = ("benchmark", "ours CPU", "ours GPU", "PyTorch cuDNN", "GPU / CPU speedup",
               "ours / PyTorch", "target", "met", "note")

    def __init__(self, out, results_md, context):
        self.out, self.results_md, self.context = Path(out), results_md, context
        self.rows, self.errors = [], {}

    def add(self, name, cpu=None, gpu=None, torch=None, target=None, met=None, note=""):
        """Times in seconds (None: not measured); ``met`` True, False or None."""
        self.rows.append({"benchmark": name, "cpu_s": cpu, "gpu_s": gpu, "torch_s": torch,
                          "target": target, "met": met, "note": note})
        self.save()

    def error(self, section, error):
        traceback.print_exc()
        self.errors[section] = f"{type(error).__name__}: {error}"
        self.save()

    def markdown(self):
        lines = [f"GPU: **{self.context.get('gpu', '?')}**; " + ", ".join(
            f"{k} {v}" for k, v in self.context.items() if k != "gpu"), ""]
        lines += ["| " + " | ".join(self.COLUMNS) + " |", "|" + " --- |" * len(self.COLUMNS)]
        lines += ["| " + " | ".join(_cells(row)) + " |" for row in self.rows]
        lines += [f"\n**{section} failed**: {message}" for section, message in self.errors.items()]
        return "\n".join(lines) + "\n"

    def save(self):
        self.out.mkdir(parents=True, exist_ok=True)
        table = self.markdown()
        (self.out / "gpu.md").write_text(table)
        (self.out / "gpu.json").write_text(json.dumps(
            {"context": self.context, "rows": self.rows, "errors": self.errors}, indent=2))
        if self.results_md:
            _replace_section(Path(self.results_md), table)


def _ms(seconds):
    return "—" if seconds is None else f"{seconds * 1e3:.2f} ms"


def _ratio(a, b, suffix):
    return "—" if a is None or b is None else f"{a / b:.1f}{suffix}"


def _cells(row):
    met = {True: "yes", False: "**no**", None: "—"}[row["met"]]
    return (row["benchmark"], _ms(row["cpu_s"]), _ms(row["gpu_s"]), _ms(row["torch_s"]),
            _ratio(row["cpu_s"], row["gpu_s"], "×"), _ratio(row["gpu_s"], row["torch_s"], "×"),
            row["target"] or "—", met, row["note"])


def _replace_section(path, table):
    """Put ``table`` between the GPU markers of ``path`` (appended when absent)."""
    block = f"{SECTION_BEGIN}\n## GPU benchmarks (benchmarks/gpu.py)\n\n{table}{SECTION_END}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION_BEGIN in text and SECTION_END in text:
        head, rest = text.split(SECTION_BEGIN, 1)
        text = head + block + rest.split(SECTION_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


# -- the machine -------------------------------------------------------------------

def describe_machine():
    properties = cupy.cuda.runtime.getDeviceProperties(0)
    name = properties["name"]
    context = {"gpu": name.decode() if isinstance(name, bytes) else str(name),
               "CuPy": cupy.__version__,
               "CUDA runtime": cupy.cuda.runtime.runtimeGetVersion(),
               "NumPy": np.__version__, "CPU cores": os.cpu_count(),
               "Python": platform.python_version(),
               "CUPY_TF32": os.environ.get("CUPY_TF32", "unset")}
    try:
        import torch
        context.update({"PyTorch": torch.__version__,
                        "cuDNN": torch.backends.cudnn.version(),
                        "PyTorch TF32": "off"})
    except Exception as error:  # PyTorch is optional: its columns stay empty
        context["PyTorch"] = f"unavailable ({type(error).__name__}: {error})"
    return context


def torch_cuda():
    """torch, set up for a fair float32 comparison (TF32 off, cuDNN autotuning on)."""
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("PyTorch sees no CUDA device")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch


# -- conv2d at the VGG-16 shapes -----------------------------------------------------

VGG_CONV_SHAPES = ((64, 112), (128, 56), (256, 28), (512, 14))  # channels in = out, side


def conv_arrays(channels, side, batch=8, seed=0):
    """x (N, C, S, S), W (C, C, 3, 3) He-scaled, b (C,), upstream gradient (N, C, S, S)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, side, side), dtype=np.float32)
    W = rng.standard_normal((channels, channels, 3, 3), dtype=np.float32)
    W *= np.float32(np.sqrt(2.0 / (9 * channels)))
    b = rng.standard_normal(channels, dtype=np.float32)
    gy = rng.standard_normal((batch, channels, side, side), dtype=np.float32)
    return x, W, b, gy


def ours_conv(xp, arrays, backward):
    """A function running our conv2d (and its backward) on ``xp`` arrays; returns y."""
    import nnscratch.functional as F
    from nnscratch import Tensor, no_grad
    x, W, b, gy = (xp.asarray(a) for a in arrays)
    tensors = [Tensor(a, requires_grad=backward) for a in (x, W, b)]

    def run():
        if not backward:
            with no_grad():
                return F.conv2d(*tensors, stride=1, pad=1).data
        for t in tensors:
            t.grad = None
        y = F.conv2d(*tensors, stride=1, pad=1)
        y.backward(gy)
        return y.data
    return run


def torch_conv(torch, arrays, backward):
    x, W, b, gy = (torch.from_numpy(a).cuda() for a in arrays)
    for t in (x, W, b):
        t.requires_grad_(backward)

    def run():
        if not backward:
            with torch.no_grad():
                return torch.nn.functional.conv2d(x, W, b, padding=1)
        x.grad = W.grad = b.grad = None
        y = torch.nn.functional.conv2d(x, W, b, padding=1)
        y.backward(gy)
        return y
    return run


def conv_section(report, deadline):
    torch = _optional_torch(report, "conv2d")
    for channels, side in VGG_CONV_SHAPES:
        arrays = conv_arrays(channels, side)
        for backward in (False, True):
            name = f"conv2d {channels}→{channels} @{side}, N=8, {'fwd+bwd' if backward else 'fwd'}"
            if past(deadline):
                report.add(name, note="skipped: the section's time box ran out")
                continue
            cpu = measure(ours_conv(np, arrays, backward), no_sync, deadline, 3, 1)
            ours = ours_conv(cupy, arrays, backward)
            gpu = measure(ours, gpu_sync, deadline)
            torch_s, note = None, ""
            if torch is not None:
                theirs = torch_conv(torch, arrays, backward)
                torch_s = measure(theirs, torch.cuda.synchronize, deadline)
                note = f"max rel. diff vs PyTorch {relative_error(cupy.asnumpy(ours()), theirs().detach().cpu().numpy()):.1e}"
            report.add(name, cpu, gpu, torch_s, note=note)


def _optional_torch(report, section):
    try:
        return torch_cuda()
    except Exception as error:
        report.error(f"{section}: PyTorch", error)
        return None


# -- LSTM ------------------------------------------------------------------------------

def lstm_arrays(batch=128, steps=16, inputs=512, hidden=512, seed=1):
    """x (N, T, D), Wx (D, 4H), Wh (H, 4H), b (4H,) in our gate order i, f, o, g, gy (N, T, H)."""
    rng = np.random.default_rng(seed)
    bound = np.float32(1 / np.sqrt(hidden))
    x = rng.standard_normal((batch, steps, inputs), dtype=np.float32)
    Wx = rng.uniform(-bound, bound, (inputs, 4 * hidden)).astype(np.float32)
    Wh = rng.uniform(-bound, bound, (hidden, 4 * hidden)).astype(np.float32)
    b = rng.uniform(-bound, bound, 4 * hidden).astype(np.float32)
    gy = rng.standard_normal((batch, steps, hidden), dtype=np.float32)
    return x, Wx, Wh, b, gy


def ours_lstm(xp, arrays):
    import nnscratch.functional as F
    from nnscratch import Tensor
    x, Wx, Wh, b, gy = (xp.asarray(a) for a in arrays)
    tensors = [Tensor(a, requires_grad=True) for a in (x, Wx, Wh, b)]

    def run():
        for t in tensors:
            t.grad = None
        h = F.lstm(tensors[0], None, None, *tensors[1:])
        h.backward(gy)
        return h.data
    return run


def torch_lstm(torch, arrays):
    """torch.nn.LSTM (cuDNN) with our weights; PyTorch's gate order is i, f, g, o."""
    x, Wx, Wh, b, gy = arrays
    H = Wh.shape[0]
    order = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]  # i f o g -> i f g o
    lstm = torch.nn.LSTM(Wx.shape[0], H, batch_first=True).cuda()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wx.T[order])))
        lstm.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(Wh.T[order])))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b[order]))
        lstm.bias_hh_l0.zero_()
    x = torch.from_numpy(x).cuda().requires_grad_(True)
    gy = torch.from_numpy(gy).cuda()

    def run():
        lstm.zero_grad()
        x.grad = None
        h, _ = lstm(x)
        h.backward(gy)
        return h
    return run


def lstm_section(report, deadline):
    arrays = lstm_arrays()
    cpu = measure(ours_lstm(np, arrays), no_sync, deadline, 3, 1)
    ours = ours_lstm(cupy, arrays)
    gpu = measure(ours, gpu_sync, deadline)
    torch = _optional_torch(report, "lstm")
    torch_s, met, note = None, None, ""
    if torch is not None:
        theirs = torch_lstm(torch, arrays)
        torch_s = measure(theirs, torch.cuda.synchronize, deadline)
        met = gpu <= 2 * torch_s
        note = f"max rel. diff of h vs cuDNN {relative_error(cupy.asnumpy(ours()), theirs().detach().cpu().numpy()):.1e}"
    report.add("LSTM N=128 T=16 512→512, fwd+bwd", cpu, gpu, torch_s,
               "GPU ≤ 2× cuDNN", met, note)


# -- VGG-16 forward ----------------------------------------------------------------------

def torch_vgg16(torch, net):
    """benchmarks/torch_models.py's VGG-16 on the GPU, holding copies of ``net``'s weights."""
    from benchmarks.torch_models import vgg16
    from caption.cnn.vgg16 import CONV_NAMES, FC_NAMES
    model = vgg16()
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    for layer, ours in zip(layers, [getattr(net, name) for name in CONV_NAMES + FC_NAMES],
                           strict=True):
        conv = isinstance(layer, torch.nn.Conv2d)  # ours is (F, C, KH, KW) or (D, M); torch's (M, D)
        _copy_weights(torch, layer, ours.W.data if conv else ours.W.data.T, ours.b.data)
    return model.cuda().eval()


def _copy_weights(torch, layer, W, b):
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
        layer.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))


def ours_forward(net, x):
    from nnscratch import Tensor, no_grad

    def run():
        with no_grad():
            return net(Tensor(x)).data
    return run


def vgg_section(report, deadline):
    from caption.cnn import build
    net = build("vgg16", weights=False, rng=np.random.default_rng(2))
    x = np.random.default_rng(3).standard_normal((VGG_BATCH, 3, 224, 224), dtype=np.float32)
    cpu = measure(ours_forward(net, x[:VGG_CPU_BATCH]), no_sync, deadline, 2, 1) / VGG_CPU_BATCH
    torch = _optional_torch(report, "vgg16")
    theirs = torch_vgg16(torch, net) if torch is not None else None
    net.to_gpu()
    ours = ours_forward(net, cupy.asarray(x))
    gpu = measure(ours, gpu_sync, deadline, 3)
    torch_s, note = None, f"CPU measured at N={VGG_CPU_BATCH}"
    if theirs is not None:
        x_torch = torch.from_numpy(x).cuda()

        def run_theirs():
            with torch.no_grad():
                return theirs(x_torch)
        torch_s = measure(run_theirs, torch.cuda.synchronize, deadline, 3)
        error = relative_error(cupy.asnumpy(ours()), run_theirs().cpu().numpy())
        note += f"; max rel. diff of logits vs PyTorch {error:.1e}"
    report.add(f"VGG-16 forward N={VGG_BATCH}, whole batch", None, gpu, torch_s,
               "GPU ≤ 3× PyTorch", None if torch_s is None else gpu <= 3 * torch_s, note)
    per_image = gpu / VGG_BATCH
    report.add("VGG-16 forward, per image", cpu, per_image,
               None if torch_s is None else torch_s / VGG_BATCH, "GPU ≥ 20× CPU",
               cpu >= 20 * per_image)


# -- the captioner's training step ----------------------------------------------------------

def captioner_step(xp, batch=32, steps=16, vocab=40, seed=4):
    """One training step (forward, backward, clipping, Adam) of the shapes-set
    captioner: SmallCNN on 64×64 images, an LSTM of 256, words conditioned on the image."""
    from caption.models.captioner import Captioner
    from caption.models.small_cnn import SmallCNN
    from nnscratch import Tensor, optim
    rng = np.random.default_rng(seed)
    encoder = SmallCNN(rng=rng)
    model = Captioner(vocab, encoder.feature_size, embed_size=64, hidden_size=256, cell="lstm",
                      condition="every", encoder=encoder, rng=rng).train()
    if xp is not np:
        model.to_gpu()
    optimizer = optim.Adam(model.parameters(), 2e-3)
    images = xp.asarray(rng.random((batch, 3, 64, 64), dtype=np.float32))
    tokens = xp.asarray(rng.integers(3, vocab, (batch, steps + 1)))
    lengths = rng.integers(steps // 2, steps + 1, batch)
    mask = xp.asarray((np.arange(steps + 1) <= lengths[:, None]).astype(np.float32))

    def step():
        loss = model.loss(Tensor(images), tokens, mask)
        value = float(loss.item())  # the trainer reads every loss: one synchronisation
        optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_norm(model.parameters(), 5.0)
        optimizer.step()
        return value
    return step


def captioner_section(report, deadline):
    cpu = measure(captioner_step(np), no_sync, deadline, 5, 2)
    gpu = measure(captioner_step(cupy), gpu_sync, deadline, 10, 3)
    report.add("captioner training step, N=32, T=16", cpu, gpu, None, "GPU ≥ 10× CPU",
               cpu >= 10 * gpu,
               f"one epoch of the shapes set ({SHAPES_EPOCH_STEPS} steps): "
               f"CPU {cpu * SHAPES_EPOCH_STEPS:.0f} s, GPU {gpu * SHAPES_EPOCH_STEPS:.1f} s")


# -- main ----------------------------------------------------------------------------------

SECTIONS = (("conv2d", conv_section, 0.30), ("lstm", lstm_section, 0.15),
            ("vgg16", vgg_section, 0.35), ("captioner", captioner_section, 0.20))


def main(argv=None):
    args = parse_args(argv)
    if not gpu_available():
        print("benchmarks/gpu.py: no CUDA device is usable here (cupy is not installed, or "
              "it found no GPU); these benchmarks need one. Nothing was measured.",
              file=sys.stderr)
        return 1
    context = describe_machine()
    if args.pytest_summary:
        context["pytest -m gpu"] = args.pytest_summary
    report = Report(args.out, args.results_md, context)
    start = time.perf_counter()
    for name, section, share in SECTIONS:
        print(f"== {name}", flush=True)
        section_start = time.perf_counter()
        try:
            section(report, section_start + share * args.budget)
        except Exception as error:
            report.error(name, error)
        finally:
            cupy.get_default_memory_pool().free_all_blocks()
        print(f"   {time.perf_counter() - section_start:.1f} s", flush=True)
    print(f"\n{report.markdown()}\ntotal {time.perf_counter() - start:.0f} s; "
          f"written to {Path(args.out) / 'gpu.md'} and gpu.json", flush=True)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
