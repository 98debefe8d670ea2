"""How many BLAS threads the commands use (nnscratch/threads.py, caption/shell/threads.py):
the idle cores, measured; what --threads asks; and the limit set and lifted."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import nnscratch.threads as threads
from caption import train
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


@pytest.mark.parametrize("idle, expected", [(2.0, 2), (1.8, 2), (1.7, 1), (1.0, 1), (0.1, 1)])
def test_choose_threads_uses_the_idle_cores_at_most_the_blas_own(monkeypatch, idle, expected):
    monkeypatch.setattr(threads, "idle_cores", lambda: idle)
    with use_threads(2):
        chosen, why = choose_threads()
    assert chosen == expected
    assert ("busy" in why) == (expected < 2)


def test_choose_threads_never_goes_above_the_blas_limit(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 64.0)
    with use_threads(1):
        assert choose_threads()[0] == 1


def test_choose_threads_keeps_the_blas_setting_where_the_load_is_unknown(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: None)
    with use_threads(2):
        assert choose_threads() == (2, "the BLAS's own setting (the machine's load "
                                       "cannot be read here)")


def test_asked_threads_are_used_as_asked(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: pytest.fail("measured though asked"))
    assert choose_threads(3) == (3, "asked with --threads")


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
