"""Timing shared by the benchmark scripts: ours against PyTorch, in one process.

Each comparison warms both sides up, then times them alternately (ours,
PyTorch, ours, ...) so that a burst of load on the machine falls on both,
and reports the median wall-clock time of each and the ratio ours / PyTorch
(below 1: ours is faster). ``Settings.quick`` runs every script on tiny
shapes with one repetition, so that the test suite can check they still run.
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

    @classmethod
    def make(cls, quick):
        return cls(quick=True, repeat=1, warmup=0) if quick else cls()


@dataclass
class Row:
    """One line of a table: a case, ours and the reference's figure, their ratio, a target."""
    subject: str
    case: str
    ours: float                  # median milliseconds (or ``unit``)
    theirs: float
    target: float = None         # the ceiling for the ratio, where it sets one
    reference: str = "PyTorch"   # what ours is measured against
    unit: str = "ms"

    @property
    def ratio(self):
        return self.ours / self.theirs

    def as_dict(self):
        return {**asdict(self), "ratio": self.ratio}


def median_pair(ours, theirs, settings):
    """Median seconds of ``ours()`` and ``theirs()``, timed alternately."""
    for _ in range(settings.warmup):
        ours()
        theirs()
    times = ([], [])
    for _ in range(settings.repeat):
        for fn, bucket in zip((ours, theirs), times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def compare(subject, case, ours, theirs, settings, target=None, reference="PyTorch"):
    """A Row for ``case``: ``ours`` and ``theirs`` are calls without arguments."""
    ours_s, theirs_s = median_pair(ours, theirs, settings)
    return Row(subject, case, 1e3 * ours_s, 1e3 * theirs_s, target, reference)


def markdown_table(title, rows):
    """The rows as a Markdown table under a heading; a missed target is marked."""
    unit = rows[0].unit if rows else "ms"
    lines = [f"### {title}", "",
             f"| case | ours ({unit}) | against | theirs ({unit}) | ours / theirs | target |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for row in rows:
        target = "" if row.target is None else f"≤ {row.target:g}"
        if row.target is not None and row.ratio > row.target:
            target += " (missed)"
        lines.append(f"| {row.case} | {row.ours:.1f} | {row.reference} | "
                     f"{row.theirs:.1f} | {row.ratio:.2f} | {target} |")
    return "\n".join(lines) + "\n"


def load_average():
    """The 1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    return tuple(round(value, 2) for value in os.getloadavg())
