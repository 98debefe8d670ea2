"""Features of any network train and evaluate both tasks (the two tasks need
nothing but the vectors); ``--cnn`` matters only to encode new images. And the
feature cache is keyed by what the features depend on: the images' files,
the CNN and its weights."""
import json
import os

import numpy as np
import pytest

from caption import describe, evaluate, train
from caption.cnn import extract
from caption.data.features import write_features
from caption.data.karpathy import load_karpathy
from caption.data.shapes import build_shapes

FLAGS = ["--epochs", "1", "--embed-size", "8", "--min-count", "1", "--quiet"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_shapes(tmp_path_factory.mktemp("shapes") / "tiny", seed=0, n_train=30,
                        n_val=6, n_test=6)


@pytest.fixture(scope="module")
def resnet_like(tiny, tmp_path_factory):
    """2048-d vectors, as ResNet's pooled features, from no CNN the project has."""
    imgids = [image["imgid"] for image in json.loads(tiny.read_text())["images"]]
    path = tmp_path_factory.mktemp("features") / "resnet.h5"
    rng = np.random.default_rng(0)
    write_features(path, np.maximum(rng.normal(size=(len(imgids), 2048)), 0), imgids)
    return path


@pytest.mark.parametrize("task", ["caption", "rank"])
def test_a_feature_file_of_any_width_trains_and_evaluates(tiny, resnet_like, tmp_path, task,
                                                          capsys):
    run = tmp_path / task
    assert train.main(["--task", task, "--data", str(tiny), "--features", str(resnet_like),
                       *FLAGS, "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["cnn"] is None and config["feature_size"] == 2048
    assert evaluate.main(["--run", str(run), "--sample", "2"]) == 0
    if task == "caption":   # a new photo needs the network that made the features
        capsys.readouterr()
        image = tiny.parent / "images" / json.loads(tiny.read_text())["images"][0]["filename"]
        assert describe.main([str(image), "--run", str(run)]) == 1
        assert "features of a CNN the project does not have" in capsys.readouterr().err


def test_a_named_cnn_must_be_the_one_that_made_the_file(tiny, resnet_like, tmp_path, capsys):
    assert train.main(["--data", str(tiny), "--features", str(resnet_like), "--cnn",
                       "squeezenet", *FLAGS, "--out", str(tmp_path / "run")]) == 1
    assert "features are 2048-d, but the CNN chosen gives 512-d" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_cache_key_follows_the_images_and_the_weights(tiny, tmp_path, monkeypatch):
    dataset = load_karpathy(tiny, tiny.parent / "images")
    key = extract.cache_key(dataset, "squeezenet", regions=False)
    assert extract.cache_key(dataset, "squeezenet", regions=True) != key
    picture = dataset.images[0].path
    stat = os.stat(picture)
    os.utime(picture, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # the file changed
    assert extract.cache_key(dataset, "squeezenet", regions=False) != key
    os.utime(picture, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert extract.cache_key(dataset, "squeezenet", regions=False) == key
    copy = tmp_path / "images"                # the same names, other pictures
    copy.mkdir()
    for image in dataset.images:
        (copy / image.relpath).write_bytes(image.path.read_bytes())
    elsewhere = load_karpathy(tiny, copy)
    assert extract.cache_key(elsewhere, "squeezenet", regions=False) != key
