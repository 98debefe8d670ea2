"""Timing shared by the benchmark scripts: ours against PyTorch, in one process.

Each comparison warms both sides up, then times them alternately (ours,
PyTorch, ours, ...) so that a burst of load on the machine falls on both,
and reports the median wall-clock time of each (or, with ``--best``, the
fastest) and the ratio ours / PyTorch (below 1: ours is faster). Where a row has a *floor* (benchmarks/floor.py:
the same matrix products as ours, timed alone with NumPy's BLAS), it is
timed in the same alternation, and ours / floor says how far ours is from
the machine's limit. Where a row says how many items (images, say) one call
handles, the table adds the rates, items per second of each side.
``Settings.quick`` runs every script on tiny shapes with one repetition, so
that the test suite can check they still run. ``Settings.clock`` "cpu" times
the CPU time of the process (``time.process_time``) instead of the wall
clock: with one thread each (``--cpu-time``), the figures that a machine busy
with other work disturbs least.
"""
import os
import statistics
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Settings:
    quick: bool = False
    repeat: int = 7   # timed calls of each side
    warmup: int = 2   # untimed calls first (allocations, caches, BLAS threads)
    best: bool = False  # report the fastest call of each side instead of the median
    clock: str = "wall"  # "wall" (time.perf_counter) or "cpu" (time.process_time)

    @classmethod
    def make(cls, quick, best=False, clock="wall"):
        if quick:
            return cls(quick=True, repeat=1, warmup=0, best=best, clock=clock)
        return cls(best=best, clock=clock)


@dataclass
class Row:
    """One line of a table: a case, ours and the reference's figure, their ratio, a
    target; optionally the floor (our matrix products alone) and a target for ours / floor,
    and the items one call handles, for the rates."""
    subject: str
    case: str
    ours: float                  # median milliseconds (or ``unit``)
    theirs: float
    target: float = None         # the ceiling for the ratio, where it sets one
    reference: str = "PyTorch"   # what ours is measured against
    unit: str = "ms"
    floor: float = None          # median milliseconds of the same products alone
    floor_target: float = None   # the ceiling for ours / floor, where one is set
    items: int = None            # what one call handles, for the rates (with unit "ms")
    item: str = "items"          # what they are, for the rates' heading: "img" gives img/s

    @property
    def ratio(self):
        return self.ours / self.theirs

    @property
    def floor_ratio(self):
        return None if self.floor is None else self.ours / self.floor

    def rates(self):
        """(ours, theirs) in items per second; None without ``items``."""
        return None if self.items is None else (1e3 * self.items / self.ours,
                                                1e3 * self.items / self.theirs)

    def as_dict(self):
        return {**asdict(self), "ratio": self.ratio, "floor_ratio": self.floor_ratio,
                "rates": self.rates()}


def medians(calls, settings):
    """Median seconds of each call without arguments, timed in turn (round robin);
    the fastest call of each with ``settings.best`` (on a machine busy with other
    work, the call that other work disturbed least); CPU seconds with
    ``settings.clock`` "cpu"."""
    clock = time.process_time if settings.clock == "cpu" else time.perf_counter
    for _ in range(settings.warmup):
        for fn in calls:
            fn()
    times = [[] for _ in calls]
    for _ in range(settings.repeat):
        for fn, bucket in zip(calls, times):
            start = clock()
            fn()
            bucket.append(clock() - start)
    statistic = min if settings.best else statistics.median
    return [statistic(bucket) for bucket in times]


def compare(subject, case, ours, theirs, settings, target=None, reference="PyTorch",
            floor=None, floor_target=None, items=None, item="items"):
    """A Row for ``case``: ``ours``, ``theirs`` and ``floor`` (or None) are calls
    without arguments, timed in turn; each handles ``items`` (or None) ``item``."""
    calls = [ours, theirs] + ([] if floor is None else [floor])
    seconds = [1e3 * s for s in medians(calls, settings)] + [None]
    return Row(subject, case, seconds[0], seconds[1], target, reference,
               floor=seconds[2], floor_target=floor_target, items=items, item=item)


def _target(ratio, ceiling):
    """"≤ 1.3", with " (missed)" when ``ratio`` is above it; "" without a ceiling."""
    if ceiling is None:
        return ""
    return f"≤ {ceiling:g}" + (" (missed)" if ratio > ceiling else "")


def markdown_table(title, rows):
    """The rows as a Markdown table under a heading; a missed target is marked.
    Tables with a floor in any row get two more columns: the floor and ours / floor;
    with items in any row, two more: the rates of ours and theirs, in the first such
    row's items per second."""
    unit = rows[0].unit if rows else "ms"
    floors = any(row.floor is not None for row in rows)
    counted = [row for row in rows if row.items is not None]
    header = f"| case | ours ({unit}) | against | theirs ({unit}) | ours / theirs | target |"
    rule = "| --- | ---: | --- | ---: | ---: | ---: |"
    if floors:
        header += f" floor ({unit}) | ours / floor | target |"
        rule += " ---: | ---: | ---: |"
    if counted:
        header += f" ours ({counted[0].item}/s) | theirs ({counted[0].item}/s) |"
        rule += " ---: | ---: |"
    lines = [f"### {title}", "", header, rule]
    for row in rows:
        line = (f"| {row.case} | {row.ours:.1f} | {row.reference} | "
                f"{row.theirs:.1f} | {row.ratio:.2f} | {_target(row.ratio, row.target)} |")
        if floors and row.floor is None:
            line += " | | |"
        elif floors:
            line += (f" {row.floor:.1f} | {row.floor_ratio:.2f} | "
                     f"{_target(row.floor_ratio, row.floor_target)} |")
        if counted:
            line += " | |" if row.items is None else " {:.1f} | {:.1f} |".format(*row.rates())
        lines.append(line)
    return "\n".join(lines) + "\n"


def load_average():
    """The 1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return tuple(round(value, 2) for value in os.getloadavg())
