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
from .training.data_digest import DIGEST, digest
from .training.loop import train
from .training.optimizers import build_optimizer
from .training.resume import resumable
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
    """Build (or reopen) the run, train it, score its best checkpoint on the test split.
    Under MPI (``group``), rank 0 alone checks, locks and writes the run; the others
    read it (caption/training/distributed.py)."""
    group = group or distributed.Single()
    group.check_batch(config["batch_size"])
    if args.resume:
        opened = (resumable(out, config) if group.is_root
                  else contextlib.nullcontext(distributed.ReadOnlyRun(out)))
        with opened as run:   # locked and checked before any data is loaded
            task = shared_task(group, config, args, load_vocabulary(run))
            return train_in(run, task, config, args, follow_load, group)
    if args.out is not None and group.is_root:
        RunFolder.check_free(out)   # a taken --out is refused before any data is loaded
    task = shared_task(group, config, args)   # all of it before anything is written
    run = None
    if group.is_root:
        run = RunFolder.create(out, {"config.json": json.dumps(config, indent=2),
                                     "vocab.json": task.vocab.to_json(),
                                     DIGEST: json.dumps(digest(config), indent=2)},
                               numbered=args.out is None)
    if group.size > 1:        # the others learn where rank 0 put it (numbered: runs/X-2)
        path = group.broadcast(run.path if run else None)
        run = run or distributed.ReadOnlyRun(path)
    with run.lock():
        return train_in(run, task, config, args, follow_load, group)


def shared_task(group, config, args, vocab=None):
    """The task, built by every process (rank 0's first: it may fill the caches that the
    others then read), which check under MPI that they hold the same config and data."""
    with group.root_first():
        task = build_task(config, vocab, progress=not args.quiet and group.is_root)
    task.group = group
    group.agree(distributed.fingerprint(config, task) if group.size > 1 else None,
                "the config or the data")
    return task


def train_in(run, task, config, args, follow_load=None, group=None):
    """Train ``task`` in the locked RunFolder ``run``; then its test-split metrics."""
    group = group or distributed.Single()
    task.between_batches = follow_load    # validation and the final test follow the load too
    optimizer = build_optimizer(task.model.parameters(), config)
    print(f"run folder: {run.path}", flush=True)
    state = train(task, optimizer, run, config, resume=bool(args.resume),
                  progress=not args.quiet and group.is_root, between_steps=follow_load,
                  group=group)
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
