"""caption.features as a Slurm job array (docs/cluster.md): ``--shard auto`` reads its
slice from SLURM_ARRAY_TASK_*; the shards run as parallel processes, one is killed
(SIGKILL) midway and run again, a finished shard run again does nothing, and the merge
equals one straight run."""
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from caption import features
from caption.data.shapes import build_shapes
from caption.shell.slurm import slurm_shard
from caption.training.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def array_task(task, count, first=None, step=None):
    env = {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": str(count)}
    if first is not None:
        env["SLURM_ARRAY_TASK_MIN"] = str(first)
    if step is not None:
        env["SLURM_ARRAY_TASK_STEP"] = str(step)
    return env


@pytest.mark.parametrize("env, shard", [
    (array_task(0, 4, first=0), (1, 4)), (array_task(3, 4, first=0), (4, 4)),
    (array_task(1, 4, first=1), (1, 4)), (array_task(4, 4, first=1), (4, 4)),
    (array_task(0, 3), (1, 3)), (array_task(2, 3), (3, 3)),          # MIN unset: from 0
    (array_task(11, 3, first=7, step=2), (3, 3))])                   # --array=7-11:2
def test_the_array_task_gives_the_shard(env, shard):
    i, n, how = slurm_shard(env)
    assert (i, n) == shard
    assert f"SLURM_ARRAY_TASK_ID={env['SLURM_ARRAY_TASK_ID']}" in how


@pytest.mark.parametrize("env, said", [
    ({}, "SLURM_ARRAY_TASK_ID is not set"),
    ({"SLURM_ARRAY_TASK_ID": "2"}, "SLURM_ARRAY_TASK_COUNT is not set"),
    ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"}, "'x' is not a whole number"),
    (array_task(4, 4, first=0), "SLURM_ARRAY_TASK_ID=4 is not one of the 4 ids from 0"),
    (array_task(4, 4), "not set: taken as 0"),
    (array_task(0, 4, first=1), "is not one of the 4 ids from 1"),
    (array_task(8, 3, first=7, step=2), "in steps of 2"),
    (array_task(0, 0, first=0), "must be 1 or more")])
def test_bad_array_variables_are_one_clear_error(env, said):
    with pytest.raises(ConfigError, match=re.escape(said)):
        slurm_shard(env)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return build_shapes(root / "tiny", seed=0, n_train=16, n_val=4, n_test=4)


def command(tiny, out, *extra):
    return [sys.executable, "-m", "caption.features", "--data", str(tiny), "--images",
            str(tiny.parent / "images"), "--cnn", "squeezenet", "--out", str(out),
            "--batch-size", "1", "--threads", "1", *extra]


def start(tiny, out, task, count=2, **popen):
    env = {**os.environ, **array_task(task, count, first=0), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command(tiny, out, "--shard", "auto"), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def kill_midway(process, total):
    """SIGKILL ``process`` once its progress bar shows some but not all of ``total`` rows."""
    seen = ""
    while True:
        chunk = process.stderr.read(1)
        if not chunk:
            return seen          # ended before: the caller's assertions say so
        seen += chunk
        done = re.findall(r"(\d+)/%d" % total, seen)
        if done and 0 < int(done[-1]) < total:
            process.send_signal(signal.SIGKILL)
            return seen


def test_an_array_of_shards_with_one_killed_and_rerun_merges_into_the_whole(tiny, tmp_path):
    straight = tmp_path / "straight.h5"
    subprocess.run(command(tiny, straight, "--quiet"), cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    parts = [tmp_path / f"feats-{task}.h5" for task in (0, 1)]
    survivor, victim = start(tiny, parts[0], 0), start(tiny, parts[1], 1)
    said = {}
    reader = threading.Thread(target=lambda: said.update(zip(("out", "err"),
                                                             survivor.communicate())))
    reader.start()
    kill_midway(victim, 12)
    assert victim.wait() == -signal.SIGKILL
    reader.join()
    assert survivor.returncode == 0, said["err"]
    assert "shard 1/2 (from SLURM_ARRAY_TASK_ID=0, SLURM_ARRAY_TASK_COUNT=2, " \
           "SLURM_ARRAY_TASK_MIN=0)" in said["err"]
    assert not parts[1].exists()
    with h5py.File(f"{parts[1]}.partial") as partial:       # killed midway, readable
        assert 0 < partial["done"][:].sum() < 12

    rerun = start(tiny, parts[1], 1)
    out, err = rerun.communicate()
    assert rerun.returncode == 0, err
    assert "wrote 12 rows" in out and "shard 2/2" in err
    again = start(tiny, parts[0], 0)                          # finished already: nothing to do
    out, err = again.communicate()
    assert again.returncode == 0, err
    assert "already holds shard 1/2: nothing to do" in out

    merged = tmp_path / "merged.h5"
    assert features.main(["--data", str(tiny), "--out", str(merged),
                          "--merge", *map(str, parts)]) == 0
    with h5py.File(merged) as a, h5py.File(straight) as b:
        order_a, order_b = np.argsort(a["imgid"][:]), np.argsort(b["imgid"][:])
        assert np.array_equal(a["imgid"][:][order_a], b["imgid"][:][order_b])
        np.testing.assert_allclose(a["features"][:][order_a], b["features"][:][order_b],
                                   rtol=1e-5, atol=1e-6)


def test_a_shard_refuses_an_out_that_is_another_file(tiny, tmp_path, monkeypatch, capsys):
    other = tmp_path / "other.h5"
    args = ["--data", str(tiny), "--images", str(tiny.parent / "images"), "--cnn",
            "squeezenet", "--batch-size", "4", "--quiet"]
    assert features.main([*args, "--out", str(other), "--shard", "1/3"]) == 0
    capsys.readouterr()
    for name, value in array_task(2, 3, first=1).items():
        monkeypatch.setenv(name, value)
    assert features.main([*args, "--out", str(other), "--shard", "auto"]) == 1
    err = capsys.readouterr().err
    assert "shard 2/3 (from SLURM_ARRAY_TASK_ID=2" in err
    assert f"error: {other}: exists and is not this shard's output" in err


def test_shard_auto_outside_an_array_is_one_line(tiny, tmp_path, monkeypatch, capsys):
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"):
        monkeypatch.delenv(name, raising=False)
    assert features.main(["--data", str(tiny), "--out", str(tmp_path / "f.h5"),
                          "--shard", "auto"]) == 1
    assert capsys.readouterr().err == ("error: --shard auto: SLURM_ARRAY_TASK_ID is not set (run "
                                       "it as a task of a Slurm job array, sbatch --array=0-N, "
                                       "or give --shard i/n)\n")
