"""Other work that starts in the middle of a training run (issue 24, item 1).

``python -m benchmarks load`` starts this module in a child process per thread
policy: ``python -m benchmarks.midrun --policy start|follow --seconds S --out FILE``
runs Flickr8k-scale training steps (benchmarks/flickr8k.py: 32 images of 4096-d
features, 5 sentences each, V = 2539, LSTM 256, Adam, clipping) for S seconds after
two untimed steps, and writes each step's end (``time.monotonic``, the same clock in
every process) and duration (``--attention``: the step with attention over
SqueezeNet's regions instead). Meanwhile the parent (``measure``) leaves the machine
alone for the first third, starts one CPU-bound process for the second and a second
one for the last, so each step falls in one phase: alone, one busy, two busy.

The policies, as ``python -m caption.train`` would run:

- ``start``: the threads are chosen once, from the cores idle at the start
  (``choose_threads``): the commands before issue 24.
- ``follow``: chosen at the start and then again every second between steps, from
  the cores other processes left idle since the last check (``LoadFollower``).
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nnscratch.threads import LoadFollower, blas_threads, choose_threads, use_threads

PHASES = ("alone", "one busy process", "two busy processes")
BUSY_LOOP = "while True: pass"   # one core's worth of other work (benchmarks/load.py too)


def training_steps(quick, attention=False):
    """A Flickr8k-scale step as a function of no arguments (``quick``: tiny shapes;
    ``attention``: the model caption.train now trains on Flickr8k by default, attention
    over SqueezeNet's regions, as benchmarks/flickr8k.py times it)."""
    from caption.data.features import region_scale
    from caption.models.captioner import Captioner
    from nnscratch import Tensor
    from nnscratch.optim import Adam, clip_grad_norm

    from . import flickr8k
    images, vocab = (4, 50) if quick else (flickr8k.IMAGES, flickr8k.VOCAB)
    if attention:
        images = 4 if quick else flickr8k.ATTENTION_IMAGES
        batch = flickr8k.region_batch(images, flickr8k.SENTENCES, vocab)
        model = flickr8k.ours_with_regions(vocab, flickr8k.ATTENTION, region_scale(batch[1]))
        loss_args = flickr8k.ours_inputs(flickr8k.ATTENTION)(batch)
    else:
        features, ids, mask, image_of_row = flickr8k.batch(images, flickr8k.SENTENCES, vocab)
        model = Captioner(vocab, flickr8k.FEATURES, embed_size=flickr8k.EMBED,
                          hidden_size=flickr8k.HIDDEN, dropout=flickr8k.DROPOUT,
                          rng=np.random.default_rng(0)).train()
        loss_args = (Tensor(features), ids, mask, image_of_row, flickr8k.BUCKETS)
    return flickr8k.training_step(model, loss_args, Adam(model.parameters(), lr=flickr8k.LR),
                                  clip_grad_norm)


def child(policy, seconds, out, quick, threads=None, attention=False):
    """Run steps for ``seconds`` under ``policy``; write the steps and thread changes.
    ``threads``: start on that number instead of the idle cores (with ``start``, the number
    stays: what --threads N does)."""
    most = blas_threads()
    threads, shared, _ = (threads, False, "") if threads else choose_threads()
    step = training_steps(quick, attention)
    with use_threads(threads, shared):
        follow = LoadFollower(most) if policy == "follow" else (lambda: (threads, False))
        for _ in range(2):
            step()
        print("ready", flush=True)
        steps, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.monotonic()
            step()
            now = time.monotonic()
            steps.append((began, now - began, follow()))
    out.write_text(json.dumps({"policy": policy, "threads_at_start": threads, "most": most,
                               "steps": steps,
                               "changes": getattr(follow, "changes", [])}))


def measure(policy, phase, quick=False, threads=None, busy=True, attention=False):
    """{phase: [step seconds]} and the child's record, for ``policy`` with phases of
    ``phase`` seconds each (``threads``: the number to start on, as in ``child``);
    ``busy=False`` starts no busy process (every phase is then alone); ``attention``:
    the step with attention (``training_steps``)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "midrun.json"
        command = [sys.executable, "-m", "benchmarks.midrun", "--policy", policy,
                   "--seconds", str(3 * phase), "--out", str(out)] + ["--quick"] * quick
        command += ["--threads", str(threads)] if threads else []
        command += ["--attention"] * attention
        runner = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1],
                                  stdout=subprocess.PIPE, text=True)
        started = []
        try:
            assert runner.stdout.readline().strip() == "ready"
            bounds = [time.monotonic() + phase * k for k in (1, 2)]
            for bound in bounds:
                time.sleep(max(0.0, bound - time.monotonic()))
                if busy:
                    started.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP]))
            if runner.wait() != 0:
                raise RuntimeError(f"{' '.join(command)} failed")
        finally:
            for process in started:
                process.kill()
                process.wait()
            runner.kill()
            runner.wait()
        record = json.loads(out.read_text())
    times = {name: [] for name in PHASES}
    for began, seconds, _ in record["steps"]:
        times[PHASES[int(np.searchsorted(bounds, began, side="right"))]].append(seconds)
    return times, record


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.midrun", description=__doc__)
    parser.add_argument("--policy", choices=("start", "follow"), required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, help="threads at the start (kept with --policy start)")
    parser.add_argument("--attention", action="store_true",
                        help="the step with attention over SqueezeNet's regions")
    args = parser.parse_args(argv)
    child(args.policy, args.seconds, args.out, args.quick, args.threads, args.attention)


if __name__ == "__main__":
    main()
