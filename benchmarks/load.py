"""Other work on the machine, started by the benchmark itself (issue 16, item 4).

``--busy N`` (``python -m benchmarks``) runs N CPU-bound processes (a Python
loop each, one core's worth) for as long as the benchmarks run, so that
"under load" means the same thing on every machine and in every run,
instead of whatever else happens to be running.

The subject ``load`` measures what the issue asks: the captioner's training
step with one busy process beside it, ours against PyTorch (its own default
threads), with NumPy's BLAS on as many threads as cores, on one thread, and
on the number the commands choose by themselves (``--threads auto``: the idle
cores, measured once the busy process runs; nnscratch/threads.py). Each
setting runs ``python -m benchmarks captioner --busy 1 --threads T`` in a
child process of its own. (With two cores and one busy process, a product
split statically between two threads waits for the thread that the busy
process has pushed off its core: measured several times slower than on one
thread.)
"""
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .timing import Row, Settings, markdown_table

BUSY_LOOP = "while True: pass"
STEP = "captioner"  # the subject measured under load
ROOT = Path(__file__).resolve().parents[1]


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


def step_under_load(threads, settings):
    """(the rows of ``STEP``, the BLAS threads used), run in a child process with one
    busy process and ``--threads threads``."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "load.json"
        command = [sys.executable, "-m", "benchmarks", STEP, "--busy", "1", "--threads",
                   str(threads), "--out", str(out)]
        command += ["--quick"] * settings.quick + ["--best"] * settings.best
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        results = json.loads(out.read_text())
        return results["subjects"][STEP]["rows"], results["blas_threads"]


def run(settings):
    rows = []
    for threads in (os.cpu_count(), 1, "auto"):
        found, used = step_under_load(threads, settings)
        chosen = f"the commands' choice, {used}" if threads == "auto" else str(threads)
        for row in found:
            case = f"{row['case']}, one busy process, NumPy's BLAS on {chosen} thread(s)"
            rows.append(Row("load", case, row["ours"], row["theirs"], target=1.5,
                            floor=row["floor"]))
    return rows


if __name__ == "__main__":
    print(markdown_table("Under load", run(Settings.make(quick=False))))
