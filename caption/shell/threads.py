"""The ``--threads`` flag of the long commands: how many threads the matrix
products use on the CPU (nnscratch/threads.py says why the default is the
number of idle cores, followed as the command runs)."""
import argparse
import contextlib
import sys

from nnscratch.threads import LoadFollower, blas_threads, choose_threads, use_threads


MAX_THREADS = 1024   # more than any machine's cores; a BLAS given 10**20 would overflow


def positive_int(text):
    """argparse type: an integer of threads, 1 to MAX_THREADS."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number of threads "
                                         f"(1 to {MAX_THREADS})")
    return value


def add_threads_flag(parser):
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="threads of the CPU's matrix products (default: the cores that "
                             "are idle, at the start and then every second, between steps or "
                             "batches; a run repeats bit for bit on a fixed N)")


@contextlib.contextmanager
def cpu_threads(requested, device="cpu"):
    """Within the block the CPU's products use ``requested`` threads, or the idle cores
    when it is None (said on stderr when that is fewer than the BLAS would use, or the
    products are shared: the machine is busy; nnscratch.threads.threads_for); nothing
    changes on a GPU.

    The block receives a function to call between training steps or batches: when the
    number was not asked, it chooses again from the cores idle now
    (nnscratch.threads.LoadFollower, at most every second); with ``requested`` or on a
    GPU it does nothing."""
    if device != "cpu":
        yield lambda: None
        return
    most = blas_threads()
    threads, shared, why = choose_threads(requested)
    if requested is None and (threads < most or shared):
        print(f"CPU threads: {threads} ({why})", file=sys.stderr, flush=True)
    with use_threads(threads, shared):
        yield LoadFollower(most) if requested is None else (lambda: (threads, False))
