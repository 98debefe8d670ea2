"""Every output path of every command is checked the same way (caption/data/files.py
``check_output``, ``written_aside``): never one of the command's own inputs, never over an
existing file without --force, never through a symbolic link, written aside and renamed into
place; a failed write names the user's file. Run folders: train --out . and export RUN . in
the current folder are refused in one line (caption/training/run_folder.py)."""
import errno
import os
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from caption import agreement, describe, export, features, train
from caption.cnn import convert
from caption.data import files
from caption.data.files import OutputError, check_output, write_atomic
from caption.data.flickr8k import SPLIT_FILES, TOKEN_FILE
from caption.data.flickr8k_judgments import CROWDFLOWER_FILE, EXPERT_FILE
from caption.data.shapes import build_shapes
from caption.shipped import FOLDER as SHIPPED_MODELS
from messages import one_line

SHIPPED = SHIPPED_MODELS / "shapes-captioner"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_shapes(tmp_path_factory.mktemp("shapes") / "tiny", seed=0, n_train=8,
                        n_val=2, n_test=2)


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "p.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
    return path


def test_check_output_refuses_each_kind_of_bad_path(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("input")
    (tmp_path / "other.txt").write_text("kept")
    (tmp_path / "link.txt").symlink_to(source)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "hard.txt").hardlink_to(source)
    cases = {tmp_path / "other.txt": "exists already", tmp_path / "link.txt": "symbolic link",
             tmp_path / "loop" / "x.txt": "cannot reach it", tmp_path / "no" / "x.txt":
             "its folder does not exist", tmp_path: "not a regular file"}
    for path, message in cases.items():
        with pytest.raises(OutputError, match=message):
            check_output(path, "--out", [source])
    with pytest.raises(OutputError, match="one of the command's own inputs"):
        check_output(tmp_path / "hard.txt", "--out", [source], force=True)
    with pytest.raises(OutputError, match="unknown extension '.xyz'"):
        check_output(tmp_path / "out.xyz", "--out", suffixes={".png"})
    check_output(tmp_path / "new.txt", "--out", [source])
    check_output(tmp_path / "in.txt", "--out", [], force=True)


def test_a_failed_write_names_the_users_file_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("previous")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "replace", full)
    with pytest.raises(OSError) as info:
        write_atomic(target, "new")
    assert info.value.filename == str(target)
    assert target.read_text() == "previous" and os.listdir(tmp_path) == ["out.json"]


@pytest.mark.parametrize("target, flags, message", [
    ("picture", ["--force"], "one of the command's own inputs"),
    ("run file", ["--force"], "one of the command's own inputs"),
    ("out.xyz", [], "unknown extension '.xyz'"),
    ("existing.png", [], "exists already"),
    ("link.png", ["--force"], "symbolic link"),
])
def test_describe_attention_map_is_checked(tmp_path, picture, capsys, target, flags, message):
    run = tmp_path / "run"
    shutil.copytree(SHIPPED, run)
    (run / "map.png").write_bytes(b"kept")
    (tmp_path / "existing.png").write_bytes(b"kept")
    (tmp_path / "link.png").symlink_to(tmp_path / "existing.png")
    out = {"picture": picture, "run file": run / "map.png"}.get(target, tmp_path / target)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert describe.main([str(picture), "--run", str(run), "--attention-map", str(out),
                          *flags]) == 1
    one_line(capsys, out, message)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_describe_attention_map_with_force_replaces_a_map(tmp_path, picture, capsys):
    out = tmp_path / "map.png"
    out.write_bytes(b"old")
    assert describe.main([str(picture), "--run", str(SHIPPED), "--attention-map", str(out),
                          "--force"]) == 0
    assert Image.open(out).format == "PNG" and sorted(os.listdir(tmp_path)) == ["map.png", "p.png"]


def test_agreement_never_writes_over_its_inputs(tmp_path, capsys):
    release = tmp_path / "release"
    release.mkdir()
    for name in (TOKEN_FILE, EXPERT_FILE, CROWDFLOWER_FILE, *SPLIT_FILES.values()):
        (release / name).write_text("kept\n")
    target = release / EXPERT_FILE
    assert agreement.main([str(release), "--json", str(target), "--force"]) == 1
    one_line(capsys, "--json", "one of the command's own inputs")
    assert target.read_text() == "kept\n"


def lasagne_file(path, values):
    path.write_bytes(pickle.dumps({"param values": values, "synset words": ["x"] * 1000,
                                   "mean value": np.zeros(3, np.float32)}, protocol=2))
    return path


def test_convert_refuses_its_source_as_out_and_keeps_out_on_failure(tmp_path, capsys):
    src = lasagne_file(tmp_path / "vgg16.pkl", [np.zeros(2, np.float32)] * 32)
    assert convert.main(["--from", "lasagne", str(src), "--out", str(src), "--force"]) == 1
    one_line(capsys, "one of the command's own inputs")
    out = tmp_path / "vgg16.h5"
    out.write_bytes(b"a good converted file")
    assert convert.main(["--from", "lasagne", str(src), "--out", str(out), "--force"]) == 1
    one_line(capsys, "conv1_1/W", "shape")
    assert out.read_bytes() == b"a good converted file"
    assert sorted(os.listdir(tmp_path)) == ["vgg16.h5", "vgg16.pkl"]


@pytest.mark.parametrize("values, message", [
    (7, "'param values' holds a int"),
    ([None] * 32, "conv1_1/W"),
    (["text"] * 32, "conv1_1/W"),
])
def test_convert_refuses_a_malformed_lasagne_file_in_one_line(tmp_path, capsys, values, message):
    src = lasagne_file(tmp_path / "vgg16.pkl", values)
    assert convert.main(["--from", "lasagne", str(src), "--out", str(tmp_path / "o.h5")]) == 1
    one_line(capsys, message)
    assert not (tmp_path / "o.h5").exists()


def test_convert_refuses_a_malformed_torchvision_file_in_one_line(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    src = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(2), "features.0.bias": 3}, src)
    assert convert.main(["--from", "torchvision", str(src), "--out", str(tmp_path / "o.h5")]) == 1
    one_line(capsys, "features.0.bias")
    torch.save({"features.0.weight": torch.zeros(2), "features.0.bias": torch.zeros(2)}, src)
    assert convert.main(["--from", "torchvision", str(src), "--out", str(tmp_path / "o.h5")]) == 1
    one_line(capsys, "features.2.weight")


def test_train_and_export_into_the_current_folder_are_refused(tmp_path, capsys, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert train.main(["--out", ".", "--quiet"]) == 1
    one_line(capsys, "the current folder")
    assert export.main([str(SHIPPED), "."]) == 1
    one_line(capsys, "the current folder")
    assert os.listdir(here) == [] and sorted(os.listdir(tmp_path)) == ["here"]


def test_features_out_through_a_symlink_loop_is_refused(tiny, tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert features.main(["--data", str(tiny), "--cnn", "squeezenet", "--out", str(loop)]) == 1
    one_line(capsys, loop, "symbolic link")
    assert train.main(["--data", str(tiny), "--out", str(loop / "run"), "--quiet"]) == 1
    one_line(capsys, loop, "not a folder")


def test_a_failed_hdf5_write_names_the_callers_file(tmp_path, monkeypatch):
    import nnscratch.io

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nnscratch.io.os, "replace", full)
    with pytest.raises(OSError) as info:
        nnscratch.io.save(tmp_path / "w.h5", {"w": np.zeros(2, np.float32)})
    assert info.value.filename == str(tmp_path / "w.h5") and info.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []
