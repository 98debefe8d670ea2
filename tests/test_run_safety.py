"""Runs that cannot be lost (caption/training/run_folder.py, loop.py, interrupts.py): a run is
created whole or refused, killed at any moment it resumes to the same parameters with no
duplicated log record and no temporary file left, SIGTERM saves like Ctrl-C, and a full
disk leaves the previous checkpoint intact."""
import errno
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

import nnscratch.io
from caption import train
from caption.data.shapes import build_shapes
from caption.training import run_folder
from caption.training.run_folder import RunError, RunFolder

TINY = ["--epochs", "2", "--batch-size", "8", "--hidden-size", "16", "--embed-size", "8",
        "--min-count", "1", "--attention", "0", "--quiet"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return str(build_shapes(root / "tiny", seed=0, n_train=40, n_val=8, n_test=8))


@pytest.fixture(scope="module")
def straight(tiny_data, tmp_path_factory):
    """An uninterrupted run of TINY: the reference every interrupted one must equal."""
    run = tmp_path_factory.mktemp("straight") / "run"
    assert train.main(["--data", tiny_data, "--out", str(run), *TINY]) == 0
    return run


def parameters(run, name="last"):
    return {k: v for k, v in nnscratch.io.load(run / f"{name}.h5").items() if k.startswith("model/")}


def same_run(a, b):
    """Same final parameters, same log, same test metrics."""
    pa, pb = parameters(a), parameters(b)
    assert pa.keys() == pb.keys()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa)
    log = lambda run: [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log(a) == log(b)
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    assert not list(b.glob(".*"))                       # no temporary file left


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


class Killed(BaseException):
    """Stands for the process dying (SIGKILL: no handler runs, no cleanup)."""


@pytest.mark.parametrize("deaths", [
    ["best"],              # after best.h5 of epoch 1, before its log record and last.h5
    ["log"],               # after the log record of epoch 2, before last.h5
    ["save_last_mid"],     # in the middle of writing last.h5 (its temporary file stays)
])
def test_a_run_killed_between_its_writes_resumes_to_the_same_run(tiny_data, straight, tmp_path,
                                                                  monkeypatch, deaths):
    run = tmp_path / "run"
    save, log = RunFolder.save_checkpoint, RunFolder.log
    counts = {"best": 0, "log": 0}

    def dying_save(self, name, *args):
        if name == "best":
            counts["best"] += 1
            save(self, name, *args)
            if deaths == ["best"] and counts["best"] == 1:
                raise Killed
            return
        if deaths == ["save_last_mid"] and counts["log"] == 2:
            (self.path / ".last.h5.0123.tmp").write_bytes(b"half a checkpoint")
            raise Killed
        save(self, name, *args)

    def dying_log(self, record):
        counts["log"] += 1
        log(self, record)
        if deaths == ["log"] and counts["log"] == 2:
            raise Killed

    monkeypatch.setattr(RunFolder, "save_checkpoint", dying_save)
    monkeypatch.setattr(RunFolder, "log", dying_log)
    with pytest.raises(Killed):
        train.main(["--data", tiny_data, "--out", str(run), *TINY])
    monkeypatch.setattr(RunFolder, "save_checkpoint", save)
    monkeypatch.setattr(RunFolder, "log", log)
    assert train.main(["--resume", str(run), "--quiet"]) == 0
    same_run(straight, run)


def test_a_torn_last_log_line_is_ignored(tmp_path):
    run = RunFolder.create(tmp_path / "run", {"config.json": "{}"})
    run.log({"epoch": 1, "CIDEr-D": 0.5})
    with open(run.file("log.jsonl"), "a") as f:
        f.write('{"epoch": 2, "CIDEr-')                 # killed mid-append
    assert run.read_log() == [{"epoch": 1, "CIDEr-D": 0.5}]
    run.resume_log(1)
    assert run.file("log.jsonl").read_text() == '{"epoch": 1, "CIDEr-D": 0.5}\n'


def test_sigterm_saves_like_ctrl_c_and_the_run_resumes(tiny_data, straight, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "caption.train", "--data", tiny_data,
                                "--out", str(run), *TINY], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "log.jsonl").exists() and time.time() < deadline:   # into epoch 2
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert f"--resume {run}" in out and "SIGTERM" in err
    assert (run / "last.h5").exists() and not (run / "metrics.json").exists()
    assert train.main(["--resume", str(run), "--quiet"]) == 0
    same_run(straight, run)


def test_sigkill_at_any_moment_leaves_a_run_that_resumes(tiny_data, straight, tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "caption.train", "--data", tiny_data,
                                "--out", str(run), *TINY], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "best.h5").exists() and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert train.main(["--resume", str(run), "--quiet"]) == 0
    same_run(straight, run)


def test_out_that_holds_a_run_is_refused_and_left_alone(straight, tmp_path, tiny_data, capsys):
    before = digest(straight)
    assert train.main(["--data", tiny_data, "--out", str(straight), *TINY]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert digest(straight) == before


def test_a_failing_train_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    assert train.main(["--data", str(bad), "--out", str(tmp_path / "run"), *TINY]) == 1
    assert "bad.json" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))


def test_open_creates_nothing(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        RunFolder.open(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()


def test_a_full_disk_keeps_the_previous_checkpoint(straight, tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "vocab.json", "last.h5"):
        (run / name).write_bytes((straight / name).read_bytes())
    before = digest(run)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nnscratch.io.os, "replace", full)
    folder = RunFolder.open(run)
    with pytest.raises(RunError, match="last.h5: cannot write the checkpoint .No space left on "
                                       "device.; the previous one is intact"):
        folder.save_checkpoint("last", _Empty(), None, {"epoch": 1})
    monkeypatch.setattr(run_folder.os, "replace", full)
    with pytest.raises(RunError, match="metrics.json: cannot write it"):
        folder.write_metrics({"BLEU-4": 0.1})
    assert digest(run) == before                        # nothing changed, nothing left behind


class _Empty:
    def state_dict(self):
        return {"w": np.zeros(2, np.float32)}


def test_files_get_the_users_usual_permissions(straight):
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "metrics.json", "vocab.json", "log.jsonl", "last.h5"):
        mode = stat.S_IMODE((straight / name).stat().st_mode)
        assert mode == 0o666 & ~umask, (name, oct(mode))
