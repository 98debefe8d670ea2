"""How many threads the NumPy path's matrix products (BLAS) use.

A BLAS such as OpenBLAS splits each product among its threads and waits at
the end of it for the slowest one. On a machine where another process holds
a core, one of those threads is often not running, and every product waits
for the scheduler to give it its turn back: on 2 cores with one other busy
process, the captioner's training step on two threads took 1.8 times
PyTorch's, and on one thread 0.9 times (benchmarks/RESULTS.md, issue 16).
So the commands use as many threads as there are idle cores when they
start, measured (``choose_threads``), never more than the BLAS would use by
itself (OPENBLAS_NUM_THREADS and the like still set the most).

The thread count changes the order of the sums inside a product, and so the
last bits of a result: a run repeats itself bit for bit when it runs on the
same number of threads (``--threads N`` fixes it).

The number is set at run time through threadpoolctl, which finds the BLAS
libraries NumPy loaded (``user_api="blas"``); PyTorch's statically linked
BLAS and its OpenMP threads are left alone.
"""
import contextlib
import os
import time

from threadpoolctl import threadpool_info, threadpool_limits

# Another process's use of the cores below this counts as idle (a shell, an editor);
# above it, two BLAS threads already lose to one.
BUSY_TOLERANCE = 0.25


def blas_threads():
    """The most threads NumPy's BLAS uses now (1 when no BLAS library is found)."""
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts, default=1)


def idle_cores(interval=0.2):
    """How many of this process's cores were idle over ``interval`` seconds (a float),
    from /proc/stat's counters (Linux); None where they cannot be read.

    Called while this process waits, so the busy time measured is other processes'.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))

    def counters():
        with open("/proc/stat") as stat:
            rows = [line.split() for line in stat if line.startswith("cpu")]
        # cpuN user nice system idle iowait irq softirq steal ...: idle is idle + iowait
        return {row[0]: (sum(map(int, row[1:9])), int(row[4]) + int(row[5]))
                for row in rows if row[0] != "cpu"}

    try:
        before = counters()
        time.sleep(interval)
        after = counters()
    except (OSError, ValueError, IndexError):
        return None
    names = [f"cpu{c}" for c in cpus]
    idle = 0.0
    for name in names:
        if name not in before or name not in after:
            return None
        total = after[name][0] - before[name][0]
        idle += (after[name][1] - before[name][1]) / total if total > 0 else 1.0
    return idle


def choose_threads(requested=None):
    """(threads, why): ``requested`` if given, else the idle cores, at least 1 and at
    most what the BLAS uses by itself. ``why`` says how the number was chosen."""
    most = blas_threads()
    if requested is not None:
        return requested, "asked with --threads"
    idle = idle_cores()
    if idle is None:
        return most, "the BLAS's own setting (the machine's load cannot be read here)"
    threads = max(1, min(most, int(idle + BUSY_TOLERANCE)))
    if threads < most:
        busy = len(os.sched_getaffinity(0)) - idle
        return threads, (f"other processes keep {busy:.1f} of the cores busy; "
                         f"--threads {most} to use {most} anyway")
    return threads, "the cores are idle"


@contextlib.contextmanager
def use_threads(threads):
    """Within the block, NumPy's BLAS uses ``threads`` threads."""
    with threadpool_limits(limits=threads, user_api="blas"):
        yield
