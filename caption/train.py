"""``python -m caption.train``: train the caption generator (thesis §3.7) or the
image–sentence ranking model (eq. 3.3–3.6), then score the best checkpoint
on the test split. With no arguments it trains the LSTM captioner on the
built-in shapes set (generated on first use). See ``--help``.
"""
import json
import sys

from .evaluation.tables import format_metrics
from .shell.errors import command
from .shell.threads import add_threads_flag, cpu_threads
from .training.build import build_task, load_vocabulary
from .training.config import parser, resolve
from .training.loop import train
from .training.optimizers import build_optimizer
from .training.run_folder import RunFolder


@command
def main(argv=None):
    p = parser()
    add_threads_flag(p)
    args = p.parse_args(argv)
    config, out = resolve(args)
    with cpu_threads(args.threads, config["device"]) as follow_load:
        return train_and_test(args, config, out, follow_load)


def train_and_test(args, config, out, follow_load=None):
    """Build (or reopen) the run, train it, score its best checkpoint on the test split."""
    if args.resume:
        run = RunFolder.open(out)
        task = build_task(config, load_vocabulary(run), progress=not args.quiet)
    else:
        task = build_task(config, progress=not args.quiet)   # all of it before anything is written
        run = RunFolder.create(out, {"config.json": json.dumps(config, indent=2),
                                     "vocab.json": task.vocab.to_json()})
    optimizer = build_optimizer(task.model.parameters(), config)
    print(f"run folder: {run.path}", flush=True)
    with run.lock():
        state = train(task, optimizer, run, config, resume=bool(args.resume),
                      progress=not args.quiet, between_steps=follow_load)
        if not state["completed"]:
            print(f"stopped after {state['step']} steps (--max-steps); "
                  f"continue with: python -m caption.train --resume {run.path}")
            return 0
        run.load_checkpoint("best", task.model)
        metrics = task.final_metrics()
        run.write_metrics(metrics)
    print(f"test split ({run.file('metrics.json')}):")
    print(format_metrics(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
