"""One training epoch at the thesis's scale, from a Karpathy JSON and a feature
file alone (no image folder): the caption generator and the ranking model,
each with the defaults ``python -m caption.train`` gives a real dataset
(caption/training/config.py, REAL_DATA) and ``--cnn vgg16``.

    python -m benchmarks.real_scale JSON FEATURES [--task caption|rank ...] [--steps N]
                                    [--eval none|val|all] [--write-standin] [--out FILE]
                                    [any flag of caption.train, e.g. --batch-size 40]

Each task runs in a fresh Python process of its own (so that its peak memory
is its own), which does what the train command does, through the same library
calls: the checked config (``config.resolve`` of the command's own parser),
``build.build_task``, ``optimizers.build_optimizer``, and for every batch of
the epoch (``task.batches`` with the trainer's seed) the step of
``loop._train_epoch``: loss, its value, zero_grad, backward, gradient
clipping, the optimizer's step. Only the trainer's progress bar, interrupt
handling and checkpoint files are left out. Then, unless ``--eval none``,
the validation pass the trainer runs after every epoch (``task.evaluate("val")``,
greedy decoding for captions) and, with ``--eval all``, the test pass the
command runs once at the end (``task.final_metrics()``: beam search of the
config's width and the constant-caption baseline for captions; the test
retrieval and the untrained baseline for ranking).

Reported per task: the time to build (read the JSON and the features, build the
vocabulary and the model), the epoch's steps and sentences, the median and mean
milliseconds per step, the epoch's wall time (the sum of its steps, with the
time to cut its batches), the evaluation passes, and the resident memory of the process (VmRSS) after
the build, then its peak (VmHWM of /proc/self/status, reset by writing 5 to
/proc/self/clear_refs) during the training steps and during the evaluation
passes: VmHWM is the figure behind ``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
without what ru_maxrss carries over from the process that started this one, and
the two peaks include what was resident before them (the features, the model).
The load averages before and after are reported beside the times. ``--steps N`` times the first N steps only and extrapolates the epoch
from their mean (marked "≈").

``--write-standin`` first writes stand-in features to FEATURES: 4096-d random
ReLU vectors, max(N(0, 1), 0) in float32, one per imgid of the JSON (real fc7
features cannot be had here; every figure made with them must say so).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .memory import reset_peak, status_mb
from .timing import load_average

TASKS = ("caption", "rank")
EVALS = ("none", "val", "all")
STANDIN_DIM = 4096


def write_standin_features(json_path, out, dim=STANDIN_DIM, seed=0):
    """Random ReLU vectors max(N(0, 1), 0), float32 (N, dim), for every imgid of a
    Karpathy JSON, written as caption.features writes features. Returns N."""
    from caption.data.features import write_features
    images = json.loads(Path(json_path).read_text(encoding="utf-8"))["images"]
    imgids = np.array([image["imgid"] for image in images], dtype=np.int64)
    rng = np.random.default_rng(seed)
    write_features(out, np.maximum(rng.standard_normal((len(imgids), dim), dtype=np.float32), 0),
                   imgids)
    return len(imgids)


def task_config(task, json_path, features, train_flags=()):
    """The checked config ``python -m caption.train`` would run with."""
    from caption.training.config import parser, resolve
    args = parser().parse_args(["--task", task, "--data", str(json_path), "--features",
                                str(features), "--cnn", "vgg16", *train_flags])
    return resolve(args)[0]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(task_name, json_path, features, steps=None, evaluate="val", train_flags=()):
    """Build the task and run one epoch (or its first ``steps`` steps) in this process."""
    from caption.training.build import build_task
    from caption.training.optimizers import build_optimizer
    from nnscratch import no_grad
    from nnscratch.optim import clip_grad_norm

    load_before = load_average()
    config = task_config(task_name, json_path, features, train_flags)
    task, build_s = timed(lambda: build_task(config))
    resident_after_build = status_mb("VmRSS")
    optimizer = build_optimizer(task.model.parameters(), config)
    batches, batching_s = timed(
        lambda: task.batches(np.random.default_rng([config["seed"], 0, 0])))  # as the trainer's
    timed_batches = batches if steps is None else batches[:steps]
    task.model.train()
    reset_peak()
    step_times, losses = [], []
    cpu_start = time.process_time()
    for batch in timed_batches:
        start = time.perf_counter()
        loss = task.loss(batch)
        losses.append(float(loss.item()))
        optimizer.zero_grad()
        loss.backward()
        if config.get("grad_clip"):
            clip_grad_norm(task.model.parameters(), config["grad_clip"])
        optimizer.step()
        step_times.append(time.perf_counter() - start)
    cpu_per_step = (time.process_time() - cpu_start) / len(step_times)
    mean_step = statistics.fmean(step_times)
    result = {
        "task": task_name,
        "config": {key: config.get(key) for key in (
            "cnn", "embed_size", "hidden_size", "dropout", "lr", "batch_size", "epochs",
            "max_length", "all_sentences", "encoder", "pooling", "min_count", "grad_clip")
            if key in config},
        "vocabulary": len(task.vocab),
        "train_images": len(task.inputs["train"]),
        "feature_size": config["feature_size"],
        "steps_per_epoch": len(batches),
        "sentences_per_epoch": int(sum(len(b.image_indices) for b in batches)),
        "steps_timed": len(step_times),
        "extrapolated": len(step_times) < len(batches),
        "build_s": build_s,
        "ms_per_step_median": 1e3 * statistics.median(step_times),
        "ms_per_step_mean": 1e3 * mean_step,
        "cpu_ms_per_step": 1e3 * cpu_per_step,   # CPU time of the process (all its threads)
        "epoch_s": batching_s + mean_step * len(batches),
        "first_loss": losses[0], "last_loss": losses[-1],
        "resident_after_build_mb": resident_after_build,
        "peak_training_mb": status_mb("VmHWM"),
    }
    task.model.eval()
    reset_peak()
    if evaluate in ("val", "all"):
        with no_grad():
            metrics, result["val_s"] = timed(lambda: task.evaluate("val"))
        result["val_metric"] = {task.selection_metric: metrics[task.selection_metric]}
    if evaluate == "all":
        with no_grad():
            _, result["test_s"] = timed(task.final_metrics)
    if evaluate != "none":
        result["peak_evaluation_mb"] = status_mb("VmHWM")
    result["load_before"], result["load_after"] = load_before, load_average()
    return result


def run_child(task, args, train_flags):
    """``measure`` in a fresh process; its result dict."""
    command = [sys.executable, "-m", "benchmarks.real_scale", str(args.json),
               str(args.features), "--child", task, "--eval", args.eval, *train_flags]
    if args.steps:
        command += ["--steps", str(args.steps)]
    done = subprocess.run(command, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(f"the {task} benchmark failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def shown(value, spec=".1f"):
    """A figure of the table, or nothing for one not measured."""
    return "" if value is None else format(value, spec)


def markdown(results):
    """The results as a Markdown table."""
    lines = ["| task | steps × sentences | ms/step median | ms/step mean | CPU ms/step | "
             "epoch (s) | val pass (s) | test pass (s) | build (s) | "
             "RSS after build / peak training / peak eval (MiB) | load before → after |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        per_step = r["sentences_per_epoch"] / r["steps_per_epoch"]
        epoch = ("≈ " if r["extrapolated"] else "") + shown(r["epoch_s"])
        timed_steps = (f" ({r['steps_timed']} timed)" if r["extrapolated"] else "")
        lines.append(
            f"| {r['task']} | {r['steps_per_epoch']} × {per_step:g}{timed_steps} | "
            f"{r['ms_per_step_median']:.0f} | {r['ms_per_step_mean']:.0f} | "
            f"{r['cpu_ms_per_step']:.0f} | {epoch} | "
            f"{shown(r.get('val_s'))} | {shown(r.get('test_s'))} | {shown(r['build_s'])} | "
            f"{r['resident_after_build_mb']:.0f} / {r['peak_training_mb']:.0f} / "
            f"{shown(r.get('peak_evaluation_mb'), '.0f')} | "
            f"{r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_scale",
                                     description=__doc__.splitlines()[0],
                                     epilog="Other flags are passed to caption.train's parser; they must suit every "
                                            "task timed (--task rank has no --hidden-size).")
    parser.add_argument("json", type=Path, help="Karpathy-format dataset JSON")
    parser.add_argument("features", type=Path, help="feature file (HDF5 of caption.features)")
    parser.add_argument("--task", action="append", choices=TASKS,
                        help="a task to time (repeatable; default: both)")
    parser.add_argument("--steps", type=int, help="time the first N steps and extrapolate")
    parser.add_argument("--eval", choices=EVALS, default="val",
                        help="evaluation passes to time: none, val (default: the one after "
                             "every epoch) or all (val and the final test pass)")
    parser.add_argument("--write-standin", action="store_true",
                        help="first write stand-in random ReLU features to FEATURES")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--child", choices=TASKS, help=argparse.SUPPRESS)
    args, train_flags = parser.parse_known_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps {args.steps}: expected at least 1")
    if args.child:
        print(json.dumps(measure(args.child, args.json, args.features, args.steps, args.eval,
                                 train_flags)))
        return 0
    if args.write_standin:
        count = write_standin_features(args.json, args.features)
        print(f"wrote stand-in random ReLU features ({count} × {STANDIN_DIM}) to {args.features}")
    results = []
    for task in args.task or TASKS:
        results.append(run_child(task, args, train_flags))
        print(f"{task}: {results[-1]['steps_timed']} steps timed", flush=True)
    print("one epoch from a JSON and features alone (stand-in random ReLU features "
          "unless FEATURES are real)")
    print(markdown(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"json": str(args.json), "features": str(args.features),
                                        "train_flags": train_flags, "results": results},
                                       indent=2))
        print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
