"""``python -m caption.train``: train the caption generator (thesis §3.7) or the
image–sentence ranking model (eq. 3.3–3.6), then score the best checkpoint
on the test split. With no arguments it trains the LSTM captioner on the
built-in shapes set (generated on first use). See ``--help``. Under
``mpirun -n N`` the N processes train one model together, each on its share of
every batch (caption/training/distributed.py, docs/cluster.md); only the first
writes the run folder and prints.
"""
import contextlib
import json
import os
import sys
import traceback

from .evaluation.tables import format_metrics
from .shell.errors import USER_ERRORS, command, message
from .shell.threads import add_threads_flag, cpu_threads
from .training import distributed
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
    group = distributed.group()
    try:
        with cpu_threads(args.threads, config["device"]) as follow_load, \
                open(os.devnull, "w") as silent, \
                contextlib.redirect_stdout(sys.stdout if group.is_root else silent):
            return train_and_test(args, config, group.broadcast(out), follow_load, group)
    except Exception as error:
        if group.size > 1:
            stop_every_process(group, error)
        raise


def stop_every_process(group, error):
    """Under MPI, an error on one process would leave the others waiting for it in a
    collective: say it (as the error boundary would) and end the whole job. (Ctrl-C and
    SIGTERM stop every process at the same step by themselves.)"""
    if isinstance(error, USER_ERRORS):
        print(f"error: {message(error)}", file=sys.stderr, flush=True)
    else:
        traceback.print_exc()
    group.abort(1)


def train_and_test(args, config, out, follow_load=None, group=None):
    """Build (or reopen) the run, train it, score its best checkpoint on the test split."""
    group = group or distributed.Single()
    group.check_batch(config["batch_size"])
    progress = not args.quiet and group.is_root
    if args.resume:
        run = RunFolder.open(out) if group.is_root else distributed.ReadOnlyRun(out)
        with group.root_first():
            task = build_task(config, load_vocabulary(run), progress=progress)
    else:
        with group.root_first():
            task = build_task(config, progress=progress)   # all of it before anything is written
    task.group = group
    group.agree(distributed.digest(config, task) if group.size > 1 else None,
                "the config or the data")
    if not args.resume:
        run = (RunFolder.create(out, {"config.json": json.dumps(config, indent=2),
                                      "vocab.json": task.vocab.to_json()})
               if group.is_root else distributed.ReadOnlyRun(out))
    optimizer = build_optimizer(task.model.parameters(), config)
    print(f"run folder: {run.path}", flush=True)
    with run.lock():
        state = train(task, optimizer, run, config, resume=bool(args.resume),
                      progress=progress, between_steps=follow_load, group=group)
        if group.report() and group.is_root:
            print(group.report(), file=sys.stderr, flush=True)
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
