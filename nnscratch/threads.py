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

The load changes during a long run: ``LoadFollower``, called between training
steps, measures again every second or so, without waiting (the machine's busy
time since the last check, less this process's own), and sets the number
again. On 2 cores, a Flickr8k-scale training step that started alone on two
threads (132-146 ms) took 29 times as long once two CPU-bound processes started
mid-run if it kept its two threads, and 2.0-2.1 times following the load, which
took it to one thread 0.7 s after the first busy process started
(benchmarks/RESULTS.md, issue 24; ``python -m benchmarks load`` measures it).

The thread count changes the order of the sums inside a product, and so the
last bits of a result: a run repeats itself bit for bit when it runs on the
same number of threads (``--threads N`` fixes it, and nothing follows the load).

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


def _cpu_counters():
    """{"cpuN": (all ticks, idle ticks)} of this process's cores from /proc/stat (Linux),
    None where they cannot be read."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    names = {f"cpu{c}" for c in os.sched_getaffinity(0)}
    try:
        with open("/proc/stat") as stat:
            rows = [line.split() for line in stat if line.startswith("cpu")]
        # cpuN user nice system idle iowait irq softirq steal ...: idle is idle + iowait
        counters = {row[0]: (sum(map(int, row[1:9])), int(row[4]) + int(row[5]))
                    for row in rows if row[0] in names}
    except (OSError, ValueError, IndexError):
        return None
    return counters if len(counters) == len(names) else None


def idle_cores(interval=0.2):
    """How many of this process's cores other processes left idle over ``interval``
    seconds (a float), from /proc/stat's counters (Linux); None where they cannot be read.

    This process waits meanwhile; what its own threads spend is counted as idle (just
    after NumPy starts, OpenBLAS's threads spin for a while: 0.3 of a core over 0.2 s).
    """
    before, own = _cpu_counters(), time.process_time()
    time.sleep(interval)
    after, own = _cpu_counters(), time.process_time() - own
    if before is None or after is None:
        return None
    idle = 0.0
    for name, (total, idle_ticks) in after.items():
        spent = total - before[name][0]
        idle += (idle_ticks - before[name][1]) / spent if spent > 0 else 1.0
    return min(float(len(after)), idle + own / interval)


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


class LoadFollower:
    """Called between training steps, re-chooses the BLAS threads from the cores other
    processes leave idle, at most every ``every`` seconds, up to ``most`` threads.

    It measures without waiting: over the time since the last check, the machine's
    busy core-seconds (/proc/stat) less this process's own CPU time
    (``time.process_time``, all its threads) are the other processes' load, and
    ``cores - that load`` the cores idle for us, which gives the threads as
    ``choose_threads`` does. A check costs about 0.1 ms; changing the number goes
    through threadpoolctl between two steps, never inside a product. Where the load
    cannot be read it changes nothing.
    """

    def __init__(self, most, every=1.0):
        self.most, self.every = most, every
        self.threads = blas_threads()
        self.changes = []          # (seconds since start, threads) of each change
        self._start = time.monotonic()
        self._mark = self._sample()

    def _sample(self):
        return time.monotonic(), time.process_time(), _cpu_counters()

    def __call__(self):
        """Check if due; returns the threads in use."""
        now = time.monotonic()
        if now - self._mark[0] < self.every:
            return self.threads
        mark, self._mark = self._mark, self._sample()
        if mark[2] is None or self._mark[2] is None:
            return self.threads
        ticks = os.sysconf("SC_CLK_TCK")
        busy = sum((total - idle) - (mark[2][name][0] - mark[2][name][1])
                   for name, (total, idle) in self._mark[2].items()) / ticks
        others = max(0.0, busy - (self._mark[1] - mark[1])) / (self._mark[0] - mark[0])
        idle = len(self._mark[2]) - others
        threads = max(1, min(self.most, int(idle + BUSY_TOLERANCE)))
        if threads != self.threads:
            threadpool_limits(limits=threads, user_api="blas")   # lifted by the use_threads around
            self.threads = threads
            self.changes.append((round(now - self._start, 2), threads))
        return self.threads
