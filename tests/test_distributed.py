"""Data-parallel training over MPI (caption/training/distributed.py, docs/cluster.md):
``mpirun -n 2 python -m caption.train`` against one process with the same global batch,
resume with the same N, and bad use (a batch that N does not divide, ranks that disagree,
a rank killed mid-run). The mpirun tests skip without mpi4py or mpirun."""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnscratch.io
from caption.data.batching import Batch
from caption.data.shapes import build_shapes
from caption.training.distributed import Single
from caption.training.tasks.caption import CaptionTask

ROOT = Path(__file__).resolve().parents[1]
# mpi4py looked up, not imported: importing mpi4py.MPI would start MPI in the test process
needs_mpi = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None
                               or shutil.which("mpirun") is None,
                               reason="needs mpi4py and Open MPI's mpirun (pip install -e '.[mpi]')")

SMALL = ["--batch-size", "8", "--hidden-size", "16", "--embed-size", "8", "--min-count", "1",
         "--threads", "1", "--quiet"]


class Ranks(Single):
    """A stand-in for rank ``rank`` of ``size``, to test the batch shares without MPI."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def rows(self, count):
        return np.array_split(np.arange(count), self.size)[self.rank]


def test_the_shares_of_a_batch_split_its_images_and_weigh_its_words():
    mask = np.zeros((7, 6), dtype=bool)
    for row, length in enumerate([3, 6, 4, 2, 5, 6, 3]):
        mask[row, :length] = True
    batch = Batch(np.array([4, 4, 9, 9, 9, 1, 2]), np.zeros((7, 6), dtype=np.int64), mask)
    task = CaptionTask.__new__(CaptionTask)
    parts = []
    for rank in range(3):
        task.group = Ranks(rank, 3)
        parts.append(task.share(batch))
    assert [part.image_indices.tolist() for part, _ in parts] == [[4, 4, 9, 9, 9], [1], [2]]
    assert [weight for _, weight in parts] == pytest.approx([15 / 22, 5 / 22, 2 / 22])
    task.group = Ranks(4, 5)                     # more ranks than images: nothing to do
    assert task.share(Batch(batch.image_indices[:2], batch.tokens[:2], mask[:2])) == (None, 0.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return str(build_shapes(root / "tiny", seed=0, n_train=40, n_val=8, n_test=8))


def environment(tmp_path):
    return {**os.environ, "PYTHONPATH": str(ROOT), "NNSCRATCH_CACHE": str(tmp_path / "cache"),
            "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
            "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def train(tmp_path, *flags, ranks=1, **popen):
    """``python -m caption.train FLAGS``, under ``mpirun -n ranks`` when ranks > 1."""
    command = [sys.executable, "-m", "caption.train", *flags]
    if ranks > 1:
        command = ["mpirun", "-n", str(ranks), "--oversubscribe", "--allow-run-as-root"] + command
    return subprocess.run(command, cwd=tmp_path, env=environment(tmp_path), capture_output=True,
                          text=True, timeout=600, **popen)


def parameters(run):
    return {k: v for k, v in nnscratch.io.load(run / "last.h5").items() if k.startswith("model/")}


@needs_mpi
@pytest.mark.parametrize("task, lr", [("caption", "0.5"), ("rank", "0.01")])
def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(tiny, tmp_path, task, lr):
    flags = ["--task", task, "--data", tiny, *SMALL, "--max-steps", "3", "--optimizer", "sgd",
             "--lr", lr]
    if task == "rank":   # its own sizes: no hidden size, and frozen SqueezeNet features
        flags.remove("--hidden-size"), flags.remove("16")
    one = train(tmp_path, *flags, "--out", "one")
    two = train(tmp_path, *flags, "--out", "two", ranks=2)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("run folder:") == 1                  # rank 0 alone prints
    assert "MPI: 2 processes, 3 allreduces of " in two.stderr
    a, b = parameters(tmp_path / "one"), parameters(tmp_path / "two")
    assert a.keys() == b.keys() and len(a) >= 6
    for key in a:                                   # plain SGD: float32 rounding alone
        np.testing.assert_allclose(b[key], a[key], rtol=1e-5, atol=1e-6, err_msg=key)


@needs_mpi
@pytest.mark.parametrize("task", ["caption", "rank"])
def test_an_epoch_on_two_processes_scores_as_on_one(tiny, tmp_path, task):
    flags = ["--task", task, "--data", tiny, *SMALL, "--epochs", "1"]
    flags += ["--beam", "1"] if task == "caption" else []
    if task == "rank":
        flags.remove("--hidden-size"), flags.remove("16")
    one = train(tmp_path, *flags, "--out", "one")
    two = train(tmp_path, *flags, "--out", "two", ranks=2)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    for name in ("metrics.json", "log.jsonl"):
        a = json.loads((tmp_path / "one" / name).read_text().splitlines()[0]
                       if name == "log.jsonl" else (tmp_path / "one" / name).read_text())
        b = json.loads((tmp_path / "two" / name).read_text().splitlines()[0]
                       if name == "log.jsonl" else (tmp_path / "two" / name).read_text())
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=1e-5, abs=1e-9), (name, key)
            else:
                assert b[key] == value, (name, key)


@needs_mpi
def test_a_run_on_two_processes_resumes_bit_for_bit_on_two(tiny, tmp_path):
    flags = ["--data", tiny, *SMALL, "--epochs", "2"]
    assert train(tmp_path, *flags, "--out", "straight", ranks=2).returncode == 0
    stopped = train(tmp_path, *flags, "--out", "broken", "--max-steps", "3", ranks=2)
    assert stopped.returncode == 0 and "--resume" in stopped.stdout
    resumed = train(tmp_path, "--resume", "broken", "--max-steps", "1000", "--quiet", ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    a, b = parameters(tmp_path / "straight"), parameters(tmp_path / "broken")
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@needs_mpi
def test_a_batch_the_processes_cannot_share_is_refused(tiny, tmp_path):
    done = train(tmp_path, "--data", tiny, *SMALL, "--batch-size", "7", "--out", "run", ranks=2)
    assert done.returncode == 1
    assert ("error: --batch-size 7: mpirun -n 2 splits each batch over 2 processes; choose a "
            "batch size that 2 divides") in done.stderr
    assert not (tmp_path / "run").exists()


@needs_mpi
def test_processes_that_disagree_on_the_config_are_refused(tiny, tmp_path):
    command = [sys.executable, "-m", "caption.train", "--data", tiny, *SMALL, "--out", "run"]
    done = subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe",
                           "-n", "1", *command, "--lr", "0.1", ":", "-n", "1", *command,
                           "--lr", "0.2"], cwd=tmp_path, env=environment(tmp_path),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "error: the 2 processes disagree on the config or the data (ranks 0: " in done.stderr
    assert "every rank must be started with the same flags and see the same files" in done.stderr
    assert not (tmp_path / "run").exists()


def rank_process(mpirun_pid, rank):
    """The pid of rank ``rank`` among mpirun's children (from OMPI_COMM_WORLD_RANK)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if parent == mpirun_pid and f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@needs_mpi
def test_a_rank_killed_mid_run_stops_the_others_and_the_run_resumes(tiny, tmp_path):
    run = tmp_path / "run"
    command = ["mpirun", "-n", "2", "--oversubscribe", "--allow-run-as-root", sys.executable,
               "-m", "caption.train", "--data", tiny, *SMALL, "--epochs", "50", "--patience",
               "50", "--out", "run"]
    job = subprocess.Popen(command, cwd=tmp_path, env=environment(tmp_path),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run / "log.jsonl").exists() or not (run / "last.h5").exists():
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()
            time.sleep(0.1)
        victim = rank_process(job.pid, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        job.wait(timeout=120)                  # the other rank does not wait for ever
    finally:
        job.kill()
        job.wait()
    assert job.returncode != 0
    epochs = len((run / "log.jsonl").read_text().splitlines())
    resumed = train(tmp_path, "--resume", "run", "--epochs", str(epochs + 1), "--quiet", ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "metrics.json").exists()
    assert len((run / "log.jsonl").read_text().splitlines()) == epochs + 1


@needs_mpi
def test_an_error_on_one_process_ends_the_job_instead_of_leaving_the_others_waiting(tiny,
                                                                                   tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")    # rank 0 alone writes: it fails
    done = train(tmp_path, "--data", tiny, *SMALL, "--out", "run", ranks=2)   # timeout 600
    assert done.returncode == 1
    assert "error: run: the folder already holds a run" in done.stderr
