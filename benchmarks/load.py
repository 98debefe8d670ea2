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

Then the mid-run case (issue 24, benchmarks/midrun.py): a Flickr8k-scale training
step alone, then with one and then two CPU-bound processes started mid-run, on the
threads chosen once at the start (as before issue 24) and on threads that follow the
load (``LoadFollower``, what ``caption.train`` does now: one thread per idle core, and
the products shared in chunks when no core is idle); each phase's median step
against the same run's steps alone; and, in runs with no busy process taking turns,
the steps of the follower against those of the fixed threads.
"""
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .midrun import BUSY_LOOP, PHASES, measure
from .timing import Row, Settings, markdown_table

MIDRUN_PHASE = 10.0  # seconds of each phase of the mid-run case (2 with --quick)
IDLE_ROUNDS, IDLE_PHASE = 3, 3.0  # the idle case: runs of each policy in turn, 3 phases each

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
    return rows + midrun_rows(settings)


def midrun_rows(settings):
    """The mid-run case: each policy's phases against its own steps alone, and the
    follower alone against the fixed threads alone (the cost of following)."""
    medians, rows = {}, []
    for policy, words in (("start", "threads chosen at the start"),
                          ("follow", "threads following the load")):
        times, record = measure(policy, 2.0 if settings.quick else MIDRUN_PHASE, settings.quick)
        medians[policy] = {phase: 1e3 * float(np.median(times[phase])) for phase in PHASES}
        changes = ", ".join(f"{t:.0f} s: {n}{' shared' * shared}"
                            for t, n, shared in record["changes"]) or "none"
        for phase in PHASES[1:]:
            rows.append(Row("load", f"mid-run, {phase}, {words} ({record['threads_at_start']} "
                                    f"at start; changes {changes}; {len(times[phase])} steps)",
                            medians[policy][phase], medians[policy]["alone"],
                            target=2.0 if (policy, phase) == ("follow", PHASES[2]) else None,
                            reference="alone"))
    # Idle, the cost of following: runs with no busy process, the two policies in turn
    # (one run after the other of each differed by up to 8% on an idle machine).
    alone, rounds = {"start": [], "follow": []}, 1 if settings.quick else IDLE_ROUNDS
    for _ in range(rounds):
        for policy in alone:
            times, _ = measure(policy, 1.0 if settings.quick else IDLE_PHASE, settings.quick,
                               busy=False)
            alone[policy] += [seconds for phase in PHASES for seconds in times[phase]]
    runs = f"{rounds} run{'s' * (rounds > 1)} each in turn, {len(alone['follow'])} steps"
    rows.append(Row("load", f"idle, threads following the load, against fixed ({runs})",
                    1e3 * float(np.median(alone["follow"])),
                    1e3 * float(np.median(alone["start"])), target=1.05, reference="fixed"))
    return rows


if __name__ == "__main__":
    print(markdown_table("Under load", run(Settings.make(quick=False))))
