"""How many BLAS threads the commands use (nnscratch/threads.py, caption/shell/threads.py):
the idle cores, measured; the products shared when no core is idle; what --threads asks;
and the limit set and lifted."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import nnscratch.threads as threads
from caption import train
from nnscratch import products
from nnscratch.threads import blas_threads, choose_threads, idle_cores, use_threads

linux = pytest.mark.skipif(not os.path.exists("/proc/stat") or
                           not hasattr(os, "sched_getaffinity"), reason="needs Linux's /proc/stat")


def test_use_threads_sets_the_blas_threads_and_restores_them():
    before = blas_threads()
    with use_threads(2):
        assert blas_threads() == 2
        a = np.random.default_rng(0).standard_normal((300, 300))
        assert np.allclose(a @ np.eye(300), a)
    assert blas_threads() == before


def test_shared_threads_take_the_blas_to_one_thread_and_give_it_back():
    before = blas_threads(), products.sharing()
    with use_threads(2, shared=True):
        assert (blas_threads(), products.sharing()) == (1, 2)
        with use_threads(1):
            assert (blas_threads(), products.sharing()) == (1, 1)
        assert products.sharing() == 2
    assert (blas_threads(), products.sharing()) == before


@pytest.mark.parametrize("idle, expected", [(2.0, (2, False)), (1.8, (2, False)),
                                            (1.7, (1, False)), (1.0, (1, False)),
                                            (0.7, (2, True)), (0.1, (2, True))])
def test_choose_threads_uses_the_idle_cores_and_shares_when_none_is(monkeypatch, idle, expected):
    monkeypatch.setattr(threads, "idle_cores", lambda: idle)
    with use_threads(2):
        chosen, shared, why = choose_threads()
    assert (chosen, shared) == expected
    assert ("busy" in why) == (expected != (2, False))
    assert ("sharing the products" in why) == shared


def test_one_blas_thread_is_never_shared():
    assert threads.threads_for(0.0, most=1) == (1, False)


def test_choose_threads_never_goes_above_the_blas_limit(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 64.0)
    with use_threads(1):
        assert choose_threads()[0] == 1


def test_choose_threads_keeps_the_blas_setting_where_the_load_is_unknown(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: None)
    with use_threads(2):
        assert choose_threads() == (2, False, "the BLAS's own setting (the machine's load "
                                              "cannot be read here)")


def test_asked_threads_are_used_as_asked(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: pytest.fail("measured though asked"))
    assert choose_threads(3) == (3, False, "asked with --threads")


@linux
def test_idle_cores_sees_a_busy_process():
    cores = len(os.sched_getaffinity(0))
    quiet = idle_cores()
    assert 0 <= quiet <= cores + 0.05
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert idle_cores(0.5) <= cores - 0.6   # the busy process holds most of one core
    finally:
        busy.kill()
        busy.wait()


def test_idle_cores_does_not_count_this_process_own_threads(monkeypatch):
    """Over the interval, this process's threads keep core 0 busy and core 1 is idle:
    both are idle for us (just after NumPy starts, OpenBLAS's threads spin so)."""
    now, ticks = [100.0], os.sysconf("SC_CLK_TCK")
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: now.append(now.pop() + seconds))
    monkeypatch.setattr(threads.time, "process_time", lambda: now[0])
    monkeypatch.setattr(threads, "_cpu_counters", lambda: {
        "cpu0": (round(now[0] * ticks), 0),
        "cpu1": (round(now[0] * ticks), round(now[0] * ticks))})
    assert idle_cores(0.5) == pytest.approx(2.0)


@pytest.mark.parametrize("count", ["0", str(2**64)])
def test_train_refuses_a_thread_count_below_one_or_huge(capsys, count):
    with pytest.raises(SystemExit) as stop:
        train.main(["--threads", count])
    assert stop.value.code == 2
    assert f"'{count}' is not a whole number of threads (1 to 1024)" in capsys.readouterr().err


def test_train_says_so_when_busy_cores_leave_it_fewer_threads(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(threads, "idle_cores", lambda: 1.0)
    with use_threads(2):
        assert train.main(["--out", str(tmp_path / "busy"), "--max-steps", "1", "--quiet"]) == 0
        said = capsys.readouterr().err
        assert "CPU threads: 1 (other processes keep " in said
        assert "of the cores busy; --threads 2 to use 2 anyway)" in said
        assert train.main(["--out", str(tmp_path / "asked"), "--threads", "1", "--max-steps",
                           "1", "--quiet"]) == 0
        assert "CPU threads" not in capsys.readouterr().err


def test_train_says_so_when_it_shares_the_products(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(threads, "idle_cores", lambda: 0.0)
    with use_threads(2):
        assert train.main(["--out", str(tmp_path / "busy"), "--max-steps", "1", "--quiet"]) == 0
    assert ("CPU threads: 2 (other processes keep 2.0 of the cores busy; sharing the products "
            "in chunks)") in capsys.readouterr().err


class FakeMachine:
    """Two cores whose /proc/stat counters and this process's CPU time and waits the test
    advances: ``run(seconds, others, ours, got)`` spends ``others`` and ``ours`` busy cores
    for ``seconds``, our threads getting a share ``got`` of a core while they want one."""

    def __init__(self, monkeypatch):
        self.now, self.own, self.busy, self.waited = 100.0, 0.0, 0.0, 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(threads.time, "process_time", lambda: self.own)
        monkeypatch.setattr(threads, "_cpu_counters", lambda: {
            f"cpu{c}": (round(self.now * ticks), round((self.now - self.busy / 2) * ticks))
            for c in (0, 1)})
        monkeypatch.setattr(threads, "_own_run_and_wait", lambda: {
            "1": (round(self.own * 1e9), round(self.waited * 1e9))})

    def run(self, seconds, others, ours, got=1.0):
        self.now += seconds
        self.own += ours * seconds
        self.waited += ours * seconds * (1 / got - 1)
        self.busy += (others + ours) * seconds


def test_the_load_follower_follows_busy_processes_started_and_stopped(monkeypatch):
    machine, before = FakeMachine(monkeypatch), blas_threads()
    with use_threads(2):
        follow = threads.LoadFollower(most=2, every=1.0)
        machine.run(1.5, others=0.0, ours=2.0)
        assert follow() == (2, False) and blas_threads() == 2   # alone: both cores
        machine.run(1.5, others=0.7, ours=1.3)                  # a busy process starts
        assert follow() == (1, False) and blas_threads() == 1
        machine.run(0.5, others=1.0, ours=1.0)                  # not due yet: no change
        assert follow() == (1, False)
        machine.run(1.0, others=1.33, ours=0.67, got=0.67)      # two busy processes
        assert follow() == (2, True)
        assert (blas_threads(), products.sharing()) == (1, 2)
        # Sharing, our two threads take a core from them: they get one, still want two.
        machine.run(1.0, others=1.0, ours=1.0, got=0.5)
        assert follow() == (2, True)
        machine.run(1.5, others=0.1, ours=1.0)                  # they stop
        assert follow() == (2, False) and blas_threads() == 2 and products.sharing() == 1
        assert [change[1:] for change in follow.changes] == [(1, False), (2, True), (2, False)]
    assert (blas_threads(), products.sharing()) == (before, 1)  # lifted with the block


def test_the_load_follower_starting_shared_stays_so_while_no_core_is_idle(monkeypatch):
    machine = FakeMachine(monkeypatch)
    with use_threads(2, shared=True):
        follow = threads.LoadFollower(most=2, every=1.0)
        assert follow.setting == (2, True)
        machine.run(1.5, others=1.0, ours=1.0, got=0.5)
        assert follow() == (2, True) and follow.changes == []


def test_the_load_follower_changes_nothing_where_the_load_is_unknown(monkeypatch):
    monkeypatch.setattr(threads, "_cpu_counters", lambda: None)
    with use_threads(2):
        follow = threads.LoadFollower(most=2, every=0.0)
        time.sleep(0.01)
        assert follow() == (2, False) and blas_threads() == 2


def test_the_progress_shows_the_threads(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(threads.LoadFollower, "__call__", lambda self: (2, True))
    monkeypatch.setattr(threads, "idle_cores", lambda: 2.0)
    assert train.main(["--out", str(tmp_path / "shown"), "--max-steps", "2"]) == 0
    assert "threads=2 shared" in capsys.readouterr().err


def test_training_follows_the_load_unless_threads_are_asked(tmp_path, follower_calls):
    assert train.main(["--out", str(tmp_path / "followed"), "--max-steps", "2", "--quiet"]) == 0
    assert len(follower_calls) == 2                          # after each step
    assert train.main(["--out", str(tmp_path / "fixed"), "--threads", "1", "--max-steps", "2",
                       "--quiet"]) == 0
    assert len(follower_calls) == 2
