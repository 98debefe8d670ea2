"""One error boundary per command (caption/shell/errors.py): bad input to each command ends in
one line on stderr naming the file and the field, exit status 1, and nothing written."""
import json
import os
import pathlib
import shutil

import h5py
import numpy as np
import pytest

from caption import classify, describe, evaluate, export, features, train
from caption.data.shapes import build_shapes
from caption.shipped import FOLDER as SHIPPED_MODELS
from messages import one_line

SHIPPED = SHIPPED_MODELS / "shapes-captioner"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return build_shapes(root / "tiny", seed=0, n_train=12, n_val=4, n_test=4)


@pytest.fixture
def shipped(tmp_path):
    """A copy of the shipped captioner, to break."""
    copy = tmp_path / "shipped"
    shutil.copytree(SHIPPED, copy)
    return copy


def listing(folder):
    return sorted(p.relative_to(folder).as_posix() for p in pathlib.Path(folder).rglob("*"))


@pytest.mark.parametrize("text, message", [
    ("{not json", "malformed JSON"),
    ('{"images": [{"filename": "a.png"}]}', "missing field 'imgid'"),
    ('{"images": [{"filename": "../a.png", "imgid": 0, "split": "train", "sentences": []}]}',
     "escapes the image root"),
    ("[]", "expected an object"),
])
def test_train_on_a_bad_dataset(tmp_path, capsys, text, message):
    data = tmp_path / "d.json"
    data.write_text(text)
    assert train.main(["--data", str(data), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, data, message)
    assert listing(tmp_path) == ["d.json"]


def test_train_on_a_latin1_dataset(tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_bytes('{"images": [], "note": "caf\xe9"}'.encode("latin-1"))
    assert train.main(["--data", str(data), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, data)
    assert listing(tmp_path) == ["d.json"]


def test_train_on_a_dataset_without_val(tiny, tmp_path, capsys):
    data = json.loads(tiny.read_text())
    for image in data["images"]:
        image["split"] = "train" if image["split"] == "val" else image["split"]
    bad = tiny.parent / "noval.json"
    bad.write_text(json.dumps(data))
    assert train.main(["--data", str(bad), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, bad, "no image in the 'val' split")
    assert not (tmp_path / "run").exists()


def test_train_with_a_fifo_among_the_images(tiny, tmp_path, capsys):
    images = tmp_path / "images"
    shutil.copytree(tiny.parent / "images", images)
    victim = sorted(images.iterdir())[0]
    victim.unlink()
    os.mkfifo(victim)
    assert train.main(["--data", str(tiny), "--images", str(images),
                       "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, victim.name, "not a regular file")
    assert not (tmp_path / "run").exists()


def test_train_with_a_symlink_out_of_the_image_root(tiny, tmp_path, capsys):
    images = tmp_path / "images"
    shutil.copytree(tiny.parent / "images", images)
    victim = sorted(images.iterdir())[0]
    outside = tmp_path / "secret.png"
    shutil.move(victim, outside)
    victim.symlink_to(outside)
    assert train.main(["--data", str(tiny), "--images", str(images),
                       "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, victim.name, "outside the image root")


def test_train_with_a_bad_feature_file(tiny, tmp_path, capsys):
    bad = tmp_path / "feats.h5"
    bad.write_text("not HDF5")
    assert train.main(["--data", str(tiny), "--features", str(bad), "--cnn", "vgg16",
                       "--out", str(tmp_path / "run"), "--quiet"]) == 1
    one_line(capsys, bad)
    assert not (tmp_path / "run").exists()


def test_describe_skips_what_is_not_an_image(shipped, tmp_path, capsys):
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    (tmp_path / "folder.png").mkdir()
    good = tmp_path / "good.png"
    from PIL import Image
    Image.new("RGB", (64, 64), (200, 30, 30)).save(good)
    assert describe.main([str(good), str(fifo), str(tmp_path / "folder.png"),
                          str(tmp_path / "none.png"), "--run", str(shipped)]) == 1
    out, err = capsys.readouterr()
    assert "x.jpg" in err and "not a regular file" in err and "folder.png" in err
    assert "none.png" in err and "Traceback" not in err
    assert out.splitlines()[0] == str(good)          # the good one is still described


@pytest.mark.parametrize("breakage, names", [
    (lambda run: (run / "best.h5").write_bytes(b"truncated"), ["best.h5"]),
    (lambda run: (run / "best.h5").unlink(), ["best.h5", "no such checkpoint"]),
    (lambda run: (run / "vocab.json").write_text("[]"), ["vocab.json"]),
    (lambda run: (run / "config.json").write_text('{"task": "caption", "epochs": 0}'),
     ["config.json"]),
    (lambda run: (run / "config.json").unlink(), ["no config.json"]),
])
def test_describe_evaluate_and_export_on_a_broken_run(shipped, tmp_path, capsys, breakage, names):
    breakage(shipped)
    before = listing(shipped)
    picture = tmp_path / "p.png"
    from PIL import Image
    Image.new("RGB", (64, 64), (200, 30, 30)).save(picture)
    assert describe.main([str(picture), "--run", str(shipped)]) == 1
    one_line(capsys, *names)
    assert evaluate.main(["--run", str(shipped)]) == 1
    one_line(capsys)
    assert export.main([str(shipped), str(tmp_path / "out")]) == 1
    one_line(capsys, *names)
    assert not (tmp_path / "out").exists() and listing(shipped) == before


def test_describe_refuses_bounds(shipped, tmp_path, capsys):
    assert describe.main(["p.png", "--run", str(shipped), "--beam", "0"]) == 1
    one_line(capsys, "--beam 0")
    assert describe.main(["p.png", "--run", str(shipped), "--top", "5", "--beam", "3"]) == 1
    one_line(capsys, "--top 5")
    assert describe.main(["p.png", "--run", str(shipped), "--max-length", "1000"]) == 1
    one_line(capsys, "--max-length 1000")


def test_export_never_writes_over_a_folder(shipped, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep me")
    assert export.main([str(shipped), str(taken)]) == 1
    one_line(capsys, taken, "already holds")
    assert listing(taken) == ["mine.txt"]
    before = listing(shipped)
    assert export.main([str(shipped), str(shipped)]) == 1
    one_line(capsys, "already holds a run")
    assert listing(shipped) == before


def test_features_never_writes_over_a_file(tiny, tmp_path, capsys):
    existing = tmp_path / "feats.h5"
    existing.write_bytes(b"precious")
    assert features.main(["--data", str(tiny), "--out", str(existing), "--cnn", "squeezenet"]) == 1
    one_line(capsys, existing, "exists")
    assert existing.read_bytes() == b"precious"
    copy = tmp_path / "d.json"
    shutil.copy(tiny, copy)
    assert features.main(["--data", str(copy), "--out", str(copy), "--cnn", "squeezenet"]) == 1
    one_line(capsys)
    assert copy.read_bytes() == tiny.read_bytes()


def test_features_merge_of_overlapping_shards(tiny, tmp_path, capsys):
    shard = tmp_path / "s1.h5"
    with h5py.File(shard, "w") as f:
        f["features"] = np.zeros((3, 512), np.float32)
        f["imgid"] = np.arange(3)
    assert features.main(["--data", str(tiny), "--out", str(tmp_path / "all.h5"),
                          "--merge", str(shard), str(shard)]) == 1
    one_line(capsys, "more than one shard")
    assert not (tmp_path / "all.h5").exists()


def test_classify_with_a_wrong_weights_file(tmp_path, capsys):
    weights = tmp_path / "w.h5"
    weights.write_text("not HDF5")
    assert classify.main(["p.png", "--weights", str(weights)]) == 1
    one_line(capsys, weights)


@pytest.mark.parametrize("task, cnn, dim", [("rank", "squeezenet", 512), ("caption", "vgg16", 4096)])
def test_train_and_evaluate_from_a_json_and_features_alone(tiny, tmp_path, task, cnn, dim, capsys):
    from caption.data.features import write_features
    alone = tmp_path / "alone"
    alone.mkdir()
    data = alone / "d.json"
    shutil.copy(tiny, data)                                  # no image folder anywhere near
    ids = [image["imgid"] for image in json.loads(data.read_text())["images"]]
    rng = np.random.default_rng(0)
    write_features(alone / "f.h5", np.maximum(rng.normal(size=(len(ids), dim)), 0), ids)
    run = tmp_path / "run"
    assert train.main(["--task", task, "--data", str(data), "--features", str(alone / "f.h5"),
                       "--cnn", cnn, "--epochs", "1", "--batch-size", "4", "--min-count", "1",
                       "--out", str(run), "--quiet"]) == 0
    assert evaluate.main(["--run", str(run), "--sample", "2"]) == 0
    assert "image not available" in (run / "report.html").read_text()


@pytest.mark.parametrize("hostile", ["external storage", "external link", "soft link"])
def test_a_checkpoint_that_reaches_outside_is_refused(shipped, tmp_path, capsys, hostile):
    """describe must not read another file of the machine, nor export copy its bytes on."""
    import nnscratch.io
    real = nnscratch.io.load(shipped / "best.h5")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x01" * 4 * 10**6)
    first, *_ = real
    with h5py.File(tmp_path / "hostile.h5", "w") as f:
        f.attrs["metadata"] = json.dumps(nnscratch.io.load_metadata(shipped / "best.h5"))
        for key, value in real.items():
            if key != first:
                f[key] = value
        if hostile == "external storage":
            f.create_dataset(first, real[first].shape, real[first].dtype,
                             external=[(str(secret), 0, real[first].nbytes)])
        elif hostile == "external link":
            f[first] = h5py.ExternalLink(str(secret), "/x")
        else:
            f[first] = h5py.SoftLink("/" + list(real)[1])
    shutil.move(tmp_path / "hostile.h5", shipped / "best.h5")
    picture = tmp_path / "p.png"
    from PIL import Image
    Image.new("RGB", (64, 64), (200, 30, 30)).save(picture)
    assert describe.main([str(picture), "--run", str(shipped)]) == 1
    one_line(capsys, "best.h5", first)
    assert export.main([str(shipped), str(tmp_path / "out")]) == 1
    one_line(capsys, "best.h5")
    assert not (tmp_path / "out").exists()


def test_a_second_process_cannot_train_the_same_run(shipped, tmp_path, capsys):
    from caption.training.run_folder import RunFolder
    with RunFolder.open(shipped).lock():
        assert train.main(["--resume", str(shipped), "--quiet"]) == 1
    one_line(capsys, "another process is training this run")


@pytest.mark.parametrize("where", ["--data", "--config"])
def test_a_fifo_or_a_deep_json_as_input_is_refused_at_once(tmp_path, capsys, where):
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    assert train.main([where, str(fifo), "--out", str(tmp_path / "run")]) == 1
    one_line(capsys, "x.json", "not a regular file")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000)
    assert train.main([where, str(deep), "--out", str(tmp_path / "run")]) == 1
    one_line(capsys, "deep.json", "nested too deeply")
    assert not (tmp_path / "run").exists()


def test_a_checkpoint_with_nan_parameters_is_refused(shipped, tmp_path, capsys):
    import nnscratch.io
    state = nnscratch.io.load(shipped / "best.h5")
    first = next(iter(state))
    state[first] = np.full_like(state[first], np.nan)
    nnscratch.io.save(shipped / "best.h5", state, nnscratch.io.load_metadata(shipped / "best.h5"))
    assert export.main([str(shipped), str(tmp_path / "out")]) == 1
    one_line(capsys, "best.h5", "NaN or inf")
    assert not (tmp_path / "out").exists()


def test_an_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train.main(["--out", "", "--quiet"]) == 1
    one_line(capsys, "--out ''")
    assert listing(tmp_path) == []


def test_export_of_last_leaves_best_s_metrics_out(tiny, tmp_path):
    run = tmp_path / "run"
    assert train.main(["--data", str(tiny), "--out", str(run), "--epochs", "1", "--batch-size",
                       "4", "--hidden-size", "8", "--embed-size", "8", "--min-count", "1",
                       "--attention", "0", "--quiet"]) == 0
    assert export.main([str(run), str(tmp_path / "last"), "--checkpoint", "last"]) == 0
    assert not (tmp_path / "last" / "metrics.json").exists()
    assert export.main([str(run), str(tmp_path / "best")]) == 0
    assert (tmp_path / "best" / "metrics.json").exists()
