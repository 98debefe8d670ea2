"""Hostile or careless input, second round: each case ends in one line naming the file and the
field, exit status 1, nothing half-made (caption/shell/errors.py), or in a correct result.
Datasets are checked field by field when read (caption/data/karpathy.py); the Flickr8k text
files and judgments (caption/data/flickr8k*.py, caption/metrics/agreement.py); METEOR's line
protocol (caption/metrics/meteor.py); the shapes set's staging folder (caption/data/shapes.py);
one feature encoder per output (caption/cnn/extract.py)."""
import fcntl
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from caption import agreement, features, stats, train
from caption.data import shapes
from caption.data.flickr8k import TOKEN_FILE, read_captions
from caption.data.flickr8k_judgments import CROWDFLOWER_FILE, EXPERT_FILE
from caption.data.shapes import build_shapes
from messages import one_line

meteor = importlib.import_module("caption.metrics.meteor")   # the module, not its function


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_shapes(tmp_path_factory.mktemp("shapes") / "tiny", seed=0, n_train=8,
                        n_val=2, n_test=2)


def edited(tiny, folder, change):
    """A copy of the tiny dataset's JSON with ``change(data)`` applied."""
    data = json.loads(tiny.read_text())
    change(data)
    path = folder / "edited.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda d: d["images"][0].update(filename="a\0b.png"), "holds a NUL byte"),
    (lambda d: d["images"][1].update(imgid=2**63), "field 'imgid' is 9223372036854775808"),
    (lambda d: d["images"][-1].update(scene="garbage"), "field 'scene'"),   # a test image
    (lambda d: d["images"][-1].update(scene=[{"colour": 1}]), "field 'scene'"),
])
def test_a_malformed_per_image_field_is_refused_when_the_dataset_is_read(tiny, tmp_path, capsys,
                                                                         change, message):
    data = edited(tiny, tmp_path, change)
    run = tmp_path / "run"
    assert train.main(["--data", str(data), "--images", str(tiny.parent / "images"),
                       "--out", str(run), "--quiet"]) == 1
    one_line(capsys, data, message)
    assert not run.exists()
    assert stats.main([str(data)]) == 1
    one_line(capsys, data, message)


def test_symlink_loops_as_images_and_as_data(tiny, tmp_path, capsys):
    images = tmp_path / "images"
    shutil.copytree(tiny.parent / "images", images)
    victim = images / "00003.png"
    victim.unlink()
    victim.symlink_to(victim)
    assert train.main(["--data", str(tiny), "--images", str(images),
                       "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, "00003.png", "not a regular file")
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    assert train.main(["--data", str(loop), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, loop)
    assert not (tmp_path / "run").exists()


def test_a_byte_order_mark_drops_no_caption(tmp_path):
    (tmp_path / TOKEN_FILE).write_bytes("\ufeffa.jpg#0\ttwo kids play\na.jpg#1\tkids\n"
                                        .encode("utf-8"))
    assert read_captions(tmp_path) == {"a.jpg": {0: "two kids play", 1: "kids"}}


def judged_release(folder, expert, crowdflower):
    folder.mkdir()
    (folder / TOKEN_FILE).write_text("a.jpg#0\ta dog runs\na.jpg#1\ta dog\n"
                                     "b.jpg#0\tkids play\nb.jpg#1\ttwo kids\n")
    (folder / EXPERT_FILE).write_text(expert)
    (folder / CROWDFLOWER_FILE).write_text(crowdflower)
    return folder


@pytest.mark.parametrize("expert, crowdflower, names", [
    ("", "a.jpg\tb.jpg#0\t0\t0\t3\n", [EXPERT_FILE, "no judgment left to score"]),
    ("a.jpg\ta.jpg#0\t4\t4\t4\n", "a.jpg\tb.jpg#0\t0\t0\t3\n",
     [EXPERT_FILE, "no judgment left to score"]),
    ("a.jpg\tb.jpg#0\t1\t1\t1\n", "", [CROWDFLOWER_FILE, "no judgment left to score"]),
    ("a.jpg\tb.jpg#0\t1\t1\t1\n", "a.jpg\ta.jpg#0\t1\t3\t0\na.jpg\ta.jpg#1\t1\t3\t0\n",
     [CROWDFLOWER_FILE, "leaves no reference"]),
    ("a.jpg\tb.jpg#0\t1\t1\t1\n", "a.jpg\tb.jpg#0\tnan\t0\t3\n", [CROWDFLOWER_FILE, "line 1"]),
])
def test_agreement_on_judgments_that_leave_nothing_to_score(tmp_path, capsys, expert,
                                                           crowdflower, names):
    release = judged_release(tmp_path / "r", expert, crowdflower)
    assert agreement.main([str(release)]) == 1
    one_line(capsys, *names)


def test_a_line_break_inside_a_token_stays_inside_its_meteor_field():
    assert meteor._line(["a", "red\ncircle", "x|||y", "", "big\r"]) == "a red circle big"


def test_meteor_with_a_line_break_inside_a_reference_token():
    try:
        meteor.meteor_jar()
    except meteor.MetricUnavailable as reason:
        pytest.skip(str(reason))
    score, per_image = meteor.meteor([[["a", "red\ncircle"]], [["a", "dog"]]],
                                     [["a", "red", "circle"], ["a", "dog"]])
    assert len(per_image) == 2 and 0 < score <= 1


def test_a_staging_folder_of_a_dead_process_is_removed(tmp_path):
    root = tmp_path / "set"
    abandoned = tmp_path / f".set.partial-{2**40}"          # no process has that pid
    (abandoned / "images").mkdir(parents=True)
    live = tmp_path / f".set.partial-{os.getpid()}-other"   # not a pid: left alone
    live.mkdir()
    build_shapes(root, seed=0, n_train=2, n_val=1, n_test=1)
    assert not abandoned.exists() and live.exists()


def test_sigterm_during_the_first_generation_leaves_no_partial_set(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "NNSCRATCH_CACHE": str(cache)}
    process = subprocess.Popen([sys.executable, "-m", "caption.stats"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list(cache.glob(".*.partial-*/images/*.png")) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130
    assert list(cache.iterdir()) == []


def test_a_second_encoder_is_told_another_process_is_encoding(tiny, tmp_path, capsys):
    out = tmp_path / "feats.h5"
    fd = os.open(tmp_path / ".feats.h5.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)                       # the first encoder, still at work
        assert features.main(["--data", str(tiny), "--cnn", "squeezenet", "--out", str(out),
                              "--quiet"]) == 1
        one_line(capsys, "feats.h5.partial", "another process is encoding it")
    finally:
        os.close(fd)
    assert features.main(["--data", str(tiny), "--cnn", "squeezenet", "--out", str(out),
                          "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feats.h5"]


def test_huge_shard_values_are_refused_by_the_parser(tiny, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        features.main(["--data", str(tiny), "--out", str(tmp_path / "f.h5"),
                       "--shard", f"1/{10**30}"])
    assert stop.value.code == 2 and "at most 100000 shards" in capsys.readouterr().err


def test_generation_restores_the_default_sigterm_action(tmp_path):
    build_shapes(tmp_path / "set", seed=0, n_train=2, n_val=1, n_test=1)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert shapes._alive(os.getpid()) and not shapes._alive(2**40)
