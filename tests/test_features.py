"""python -m caption.features: one row per imgid, resumable, shardable."""
import shutil

import h5py
import numpy as np
import pytest

from caption import features
from caption.cnn import extract
from caption.data.features import FeaturesError, load_features
from caption.data.karpathy import load_karpathy
from caption.data.shapes import build_shapes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return build_shapes(root / "tiny", seed=0, n_train=6, n_val=2, n_test=2)


def run(tiny, out, *extra):
    return features.main(["--data", str(tiny), "--images", str(tiny.parent / "images"),
                          "--cnn", "squeezenet", "--out", str(out), "--batch-size", "3", "--quiet", *extra])


@pytest.fixture(scope="module")
def straight(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "feats.h5"
    assert run(tiny, out) == 0
    return out


def test_extraction_follows_the_load_between_batches_unless_threads_are_asked(
        tiny, tmp_path, follower_calls):
    assert run(tiny, tmp_path / "followed.h5") == 0
    assert len(follower_calls) == 4                          # 10 images in batches of 3
    assert run(tiny, tmp_path / "fixed.h5", "--threads", "1") == 0
    assert len(follower_calls) == 4


def test_every_image_gets_its_row(tiny, straight):
    dataset = load_karpathy(tiny, tiny.parent / "images")
    loaded = load_features(straight, dataset)
    assert loaded.array.shape == (10, 512) and loaded.array.dtype == np.float32
    assert sorted(loaded.imgids.tolist()) == sorted(im.imgid for im in dataset.images)
    assert np.all(loaded.array >= 0) and np.all(np.isfinite(loaded.array))  # pooled ReLU outputs
    assert loaded.cnn == "squeezenet" and loaded.regions is None        # read only when asked


def test_the_regions_are_fire9_whose_mean_is_the_vector(tiny, straight):
    dataset = load_karpathy(tiny, tiny.parent / "images")
    loaded = load_features(straight, dataset, regions=True)
    assert loaded.regions.shape == (10, 196, 512) and loaded.regions.dtype == np.float16
    np.testing.assert_allclose(loaded.regions.astype(np.float32).mean(axis=1), loaded.array,
                               rtol=2e-3, atol=2e-3)           # float16 regions, float32 vector
    inputs = loaded.for_images(dataset.images[2:5])
    assert len(inputs) == 3 and inputs.shape == (3, 512) and inputs[1:].regions.shape[0] == 2


def test_without_regions_the_file_holds_the_vectors_alone(tiny, straight, tmp_path):
    out = tmp_path / "vectors.h5"
    assert run(tiny, out, "--no-regions") == 0
    dataset = load_karpathy(tiny, tiny.parent / "images")
    np.testing.assert_array_equal(load_features(out, dataset).array,
                                  load_features(straight, dataset).array)
    with pytest.raises(FeaturesError, match="holds no regions .* or train with --attention 0"):
        load_features(out, dataset, regions=True)
    with pytest.raises(FeaturesError, match="made by squeezenet, not by --cnn vgg16"):
        load_features(out, dataset, cnn="vgg16")


class Killed(Exception):
    """Stands for the process being killed mid-run."""


def test_a_killed_run_resumes_and_encodes_each_row_once(tiny, straight, tmp_path, monkeypatch):
    encoded, killed = [], []
    original = extract.load_images

    def counting(paths):
        if len(encoded) == 6 and not killed:   # killed once, after two batches of three
            killed.append(True)
            raise Killed
        encoded.extend(paths)
        return original(paths)

    monkeypatch.setattr(extract, "load_images", counting)
    out = tmp_path / "feats.h5"
    with pytest.raises(Killed):
        run(tiny, out)
    assert not out.exists() and (tmp_path / "feats.h5.partial").exists()
    assert run(tiny, out) == 0
    assert len(encoded) == len(set(encoded)) == 10
    with h5py.File(out) as a, h5py.File(straight) as b:
        np.testing.assert_allclose(a["features"][:], b["features"][:], rtol=1e-5, atol=1e-6)
        assert np.array_equal(a["imgid"][:], b["imgid"][:])


def test_shards_merge_into_the_whole(tiny, straight, tmp_path):
    parts = [tmp_path / f"part{i}.h5" for i in (1, 2, 3)]
    for i, part in enumerate(parts, start=1):
        assert run(tiny, part, "--shard", f"{i}/3") == 0
    merged = tmp_path / "merged.h5"
    assert run(tiny, merged, "--merge", *map(str, parts)) == 0
    with h5py.File(merged) as a, h5py.File(straight) as b:
        np.testing.assert_allclose(a["features"][:], b["features"][:], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a["regions"][:], b["regions"][:], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="more than one shard"):
        extract.merge([parts[0], parts[0]], tmp_path / "twice.h5")


def test_a_corrupt_image_is_listed_and_the_rest_kept(tiny, tmp_path, capsys):
    images = tmp_path / "images"
    shutil.copytree(tiny.parent / "images", images)
    bad = sorted(images.iterdir())[4]
    bad.write_bytes(b"not a png")
    out = tmp_path / "feats.h5"
    assert features.main(["--data", str(tiny), "--images", str(images), "--cnn", "squeezenet",
                          "--out", str(out), "--quiet"]) == 1
    assert bad.name in capsys.readouterr().err
    with h5py.File(tmp_path / "feats.h5.partial") as f:
        assert f["done"][:].sum() == 9


@pytest.mark.parametrize("shard", ["3", "0/2", "3/2", "a/b"])
def test_bad_shards_are_refused(shard, capsys):
    with pytest.raises(SystemExit):
        features.parser().parse_args(["--data", "d.json", "--out", "f.h5", "--shard", shard])
    assert "--shard" in capsys.readouterr().err
