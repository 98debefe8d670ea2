"""Other work on the machine, started by the benchmark itself: ``--busy N`` runs
N CPU-bound processes (a Python loop each, one core's worth) for as long as
the benchmarks run, so that "under load" means the same thing on every
machine and in every run, instead of whatever else happens to be running.

With two cores and one busy process, a library that splits each product
statically between two threads waits for the thread that the busy process
has pushed off its core; one that keeps its threads fed does not.
"""
import contextlib
import subprocess
import sys
import time

BUSY_LOOP = "while True: pass"


@contextlib.contextmanager
def busy_processes(count):
    """Start ``count`` CPU-bound child processes; stop them on leaving."""
    children = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        if children:
            time.sleep(0.5)  # let them start spinning before the first timing
        yield children
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()
