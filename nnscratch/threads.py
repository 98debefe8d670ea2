"""How many threads the NumPy path's matrix products (BLAS) use, and how.

A BLAS such as OpenBLAS splits each product among its threads and waits at
the end of it for the slowest one. On a machine where another process holds
a core, one of those threads is often not running, and every product waits
for the scheduler to give it its turn back: on 2 cores with one other busy
process, the captioner's training step on two threads took 1.8 times
PyTorch's, and on one thread 0.9 times (benchmarks/RESULTS.md, issue 16).
So the commands use as many threads as there are idle cores when they
start, measured (``choose_threads``), never more than the BLAS would use by
itself (OPENBLAS_NUM_THREADS and the like still set the most). When no core
at all is idle, one thread would get only its share of one core; the
products are then shared instead among that most of threads, each taking
small chunks on a one-thread BLAS (nnscratch/products.py), so that no thread
waits for one that lost its core (``threads_for`` says which).

The load changes during a long run: ``LoadFollower``, called between training
steps, measures again every second or so, without waiting, and sets the
threads again. It counts what other processes ask of the cores, not only what
they get: their busy time (/proc/stat, less this process's own) divided by the
share of a core this process's threads got while they wanted one (their time
running against their time waiting for a core, /proc/self/task/*/schedstat).
On 2 cores, a Flickr8k-scale training step that started alone on two threads
took 29 times as long once two CPU-bound processes started mid-run if it kept
its two threads, 2.1-2.7 times on one thread, and 1.7-1.8 times with the
products shared (benchmarks/RESULTS.md, issue 24; ``python -m benchmarks
load`` measures it).

The thread count, and sharing, change the order of the sums inside a product,
and so the last bits of a result (a training step's gradients moved by 4e-9):
a run repeats itself bit for bit when it runs on the same number of threads
(``--threads N`` fixes it, never shares, and nothing follows the load).

The number is set at run time through threadpoolctl, which finds the BLAS
libraries NumPy loaded (``user_api="blas"``); PyTorch's statically linked
BLAS and its OpenMP threads are left alone.
"""
import contextlib
import os
import time

from threadpoolctl import threadpool_info, threadpool_limits

from . import products

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
    return max(0.0, len(after) - _others_busy(before, after, own))


def _others_busy(before, after, own):
    """The cores other processes kept busy between two ``_cpu_counters`` samples: the
    machine's busy time less ``own``, this process's CPU seconds meanwhile, over the time
    between them (as the cores' own counters tell it)."""
    ticks = os.sysconf("SC_CLK_TCK")
    spent = sum(total - before[name][0] for name, (total, _) in after.items()) / len(after)
    if spent <= 0:
        return 0.0
    busy = sum((total - idle) - (before[name][0] - before[name][1])
               for name, (total, idle) in after.items())
    return max(0.0, busy - own * ticks) / spent


def _own_run_and_wait():
    """{thread id: (ns running, ns waiting for a core)} of this process's threads, from
    /proc/self/task/*/schedstat (Linux); None where they cannot be read."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    found = {}
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat") as stat:
                running, waiting = stat.read().split()[:2]
            found[task] = (int(running), int(waiting))
        except FileNotFoundError:
            continue                     # the thread ended meanwhile
        except (OSError, ValueError):
            return None
    return found or None


def _share_got(before, after):
    """The share of a core this process's threads got while they wanted one, between two
    ``_own_run_and_wait`` samples: time running / (running + waiting); 1 when unknown."""
    if before is None or after is None:
        return 1.0
    running = waiting = 0
    for task, (run_after, wait_after) in after.items():
        if task in before:
            running += run_after - before[task][0]
            waiting += wait_after - before[task][1]
    return running / (running + waiting) if running > 0 else 1.0


def threads_for(idle, most):
    """(threads, shared) for ``idle`` cores that other processes leave (a float), at most
    ``most``: the BLAS's own threads, one per idle core; and when no core is idle,
    ``most`` threads sharing the products in chunks (nnscratch/products.py)."""
    threads = min(most, int(idle + BUSY_TOLERANCE))
    if threads >= 1 or most == 1:
        return max(threads, 1), False
    return most, True


def choose_threads(requested=None):
    """(threads, shared, why): ``requested`` if given (never shared), else ``threads_for``
    the cores idle now. ``why`` says how the number was chosen."""
    most = blas_threads()
    if requested is not None:
        return requested, False, "asked with --threads"
    idle = idle_cores()
    if idle is None:
        return most, False, "the BLAS's own setting (the machine's load cannot be read here)"
    threads, shared = threads_for(idle, most)
    busy = f"other processes keep {len(os.sched_getaffinity(0)) - idle:.1f} of the cores busy"
    if shared:
        return threads, True, f"{busy}; sharing the products in chunks"
    if threads < most:
        return threads, False, f"{busy}; --threads {most} to use {most} anyway"
    return threads, False, "the cores are idle"


def _set(threads, shared):
    """NumPy's products on ``threads`` threads from now on: the BLAS's own, or with
    ``shared``, as many sharing them in chunks, each on a one-thread BLAS. Returns
    threadpoolctl's limiter, which can restore the BLAS's number before."""
    products.share(threads if shared else 1)
    return threadpool_limits(limits=1 if shared else threads, user_api="blas")


@contextlib.contextmanager
def use_threads(threads, shared=False):
    """Within the block, NumPy's products use ``threads`` threads (``_set``)."""
    before = products.sharing()
    limiter = _set(threads, shared)
    try:
        yield
    finally:
        limiter.restore_original_limits()
        products.share(before)


class LoadFollower:
    """Called between training steps, re-chooses the threads (``threads_for``) from the
    cores other processes leave idle, at most every ``every`` seconds, up to ``most``.

    It measures without waiting, over the time since the last check: the machine's
    busy core-seconds (/proc/stat) less this process's own CPU time
    (``time.process_time``, all its threads) are the cores other processes got;
    divided by the share of a core this process's threads got while they wanted one
    (``_share_got``), the cores they want. (What they got alone would move with our
    own threads: two processes take one core from our two threads, 4/3 from one.)
    A check costs about 0.1 ms when due (once a second); changing the number goes through
    threadpoolctl between two steps, never inside a product. Where the load cannot
    be read it changes nothing.
    """

    def __init__(self, most, every=1.0):
        self.most, self.every = most, every
        sharing = products.sharing()
        self.setting = (sharing, True) if sharing > 1 else (blas_threads(), False)
        self.changes = []          # (seconds since start, threads, shared) of each change
        self._start = time.monotonic()
        self._mark = self._sample()

    def _sample(self):
        return time.monotonic(), time.process_time(), _cpu_counters(), _own_run_and_wait()

    def __call__(self):
        """Check if due; returns the (threads, shared) in use."""
        now = time.monotonic()
        if now - self._mark[0] < self.every:
            return self.setting
        mark, self._mark = self._mark, self._sample()
        if mark[2] is None or self._mark[2] is None:
            return self.setting
        others = _others_busy(mark[2], self._mark[2], self._mark[1] - mark[1])
        wanted = others / _share_got(mark[3], self._mark[3])
        setting = threads_for(len(self._mark[2]) - wanted, self.most)
        if setting != self.setting:
            _set(*setting)                # both lifted by the use_threads around
            self.setting = setting
            self.changes.append((round(now - self._start, 2), *setting))
        return self.setting
