"""Feature files from outside (caption.data.features): the HDF5 through the
safe reader, shapes and D checked before rows are read, NaN/inf refused,
neuraltalk's .mat checked from its header; shard and partial files."""
import os
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from caption.data.features import (FeaturesError, check_partial, load_features, read_shard,
                                   write_features)
from hdf5_reads import never_read, recorded_reads
from nnscratch.io import FileFormatError

IMGIDS = [10, 11, 12, 13, 14]
DATASET = SimpleNamespace(images=[SimpleNamespace(imgid=i) for i in IMGIDS],
                          json_path="dataset.json")


def rows(n=5, dim=3):
    return np.arange(n * dim, dtype=np.float32).reshape(n, dim)


def feature_file(tmp_path, build=None, name="feats.h5", features=None, imgid=IMGIDS):
    """An HDF5 features file; ``build(f)`` may add to it or replace its datasets."""
    path = tmp_path / name
    with h5py.File(path, "w") as f:
        f["features"] = rows() if features is None else features
        f["imgid"] = np.asarray(imgid)
        if build:
            build(f)
    return path


def test_a_good_file_loads_and_checks_the_cnn_size(tmp_path):
    write_features(tmp_path / "feats.h5", rows()[::-1], IMGIDS[::-1])
    loaded = load_features(tmp_path / "feats.h5", DATASET, expected_dim=3)
    np.testing.assert_array_equal(loaded.for_images(DATASET.images), rows())


def test_features_of_another_cnn_are_refused_before_reading(tmp_path, monkeypatch):
    path = feature_file(tmp_path)
    never_read(monkeypatch)
    with pytest.raises(FeaturesError, match="feats.h5: features are 3-d, but the CNN chosen "
                                            "gives 4096-d vectors"):
        load_features(path, DATASET, expected_dim=4096)


def huge(f):
    """(5, 10**9) float32 declared: 20 GB, in a file of a few kB."""
    del f["features"]
    f.create_dataset("features", (5, 10**9), np.float32, chunks=(1, 1000))


def test_a_huge_declared_file_is_refused_without_being_allocated(tmp_path, monkeypatch):
    path = feature_file(tmp_path, huge)
    assert path.stat().st_size < 100_000
    never_read(monkeypatch)
    with pytest.raises(FeaturesError, match="features are 1000000000-d, but the CNN chosen "
                                            "gives 512-d"):
        load_features(path, DATASET, expected_dim=512)


def test_more_rows_than_images_are_refused_before_reading(tmp_path, monkeypatch):
    path = feature_file(tmp_path, features=np.zeros((6, 3), np.float32), imgid=range(6))
    never_read(monkeypatch)
    with pytest.raises(FeaturesError, match="feats.h5: 6 feature rows but dataset.json "
                                            "lists 5 images"):
        load_features(path, DATASET)


@pytest.mark.parametrize("bad, count, first", [
    ({1: np.nan}, 1, 11),
    ({3: np.inf, 1: -np.inf, 4: np.nan}, 3, 11),
    ({2: 1e39}, 1, 12),     # finite in float64, inf in float32
], ids=["nan", "inf", "float32 overflow"])
def test_rows_that_are_not_finite_are_counted_and_the_first_named(tmp_path, bad, count, first):
    features = rows().astype(np.float64)
    for row, value in bad.items():
        features[row, 1] = value
    path = feature_file(tmp_path, features=features)
    with pytest.raises(FeaturesError, match=f"feats.h5: {count} of 5 feature rows hold NaN or "
                                            f"inf, the first for imgid {first}"):
        load_features(path, DATASET)


def external_features(f):
    secret = f.filename.replace("feats.h5", "secret.bin")
    rows().tofile(secret)
    del f["features"]
    f.create_dataset("features", (5, 3), np.float32, external=[(secret, 0, 60)])


def virtual_features(f):
    layout = h5py.VirtualLayout((5, 3), np.float32)
    layout[:] = h5py.VirtualSource("other.h5", "x", shape=(5, 3))
    del f["features"]
    f.create_virtual_dataset("features", layout)


def linked_imgid(link):
    def build(f):
        del f["imgid"]
        f["imgid"] = link
    return build


UNSAFE = {
    "external storage": (external_features, "key 'features' is stored in external files"),
    "virtual dataset": (virtual_features, "key 'features' is a virtual dataset"),
    "external link": (linked_imgid(h5py.ExternalLink("ids.h5", "/imgid")),
                      "key 'imgid' is a ExternalLink"),
    "soft link": (linked_imgid(h5py.SoftLink("/features")), "key 'imgid' is a SoftLink"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_files_that_reach_outside_themselves_are_refused(tmp_path, case):
    build, message = UNSAFE[case]
    path = feature_file(tmp_path, build)
    for read in (lambda: load_features(path, DATASET), lambda: read_shard(path),
                 lambda: check_partial(path, IMGIDS, 3)):
        with pytest.raises(FileFormatError, match=f"feats.h5': {message}"):
            read()


@pytest.mark.parametrize("build, message", [
    (lambda f: f.__setitem__("done", np.ones(5, bool)),
     r"holds the datasets \['done', 'features', 'imgid'\], expected exactly "
     r"\['features', 'imgid'\]"),
    (lambda f: f.__delitem__("imgid"), r"holds the datasets \['features'\], expected exactly"),
    (lambda f: (f.__delitem__("imgid"), f.__setitem__("imgid/x", np.ones(5))),
     r"holds the datasets \['features', 'imgid/x'\]"),
    (lambda f: (f.__delitem__("imgid"), f.__setitem__("imgid", np.arange(5.0))),
     "dataset 'imgid' holds float64, expected integers"),
    (lambda f: (f.__delitem__("imgid"), f.__setitem__("imgid", np.arange(4))),
     r"expected 'features' \(N, D\) and 'imgid' \(N,\), got \(5, 3\) and \(4,\)"),
    (lambda f: (f.__delitem__("features"), f.__setitem__("features", np.ones(5))),
     r"expected 'features' \(N, D\) and 'imgid' \(N,\), got \(5,\) and \(5,\)"),
], ids=["extra key", "missing key", "group", "float imgids", "imgid shape", "1-d features"])
def test_wrong_keys_dtypes_and_shapes_are_named(tmp_path, monkeypatch, build, message):
    path = feature_file(tmp_path, build)
    never_read(monkeypatch)
    with pytest.raises(FeaturesError, match="feats.h5: " + message):
        load_features(path, DATASET)


@pytest.mark.parametrize("content, message", [
    (b"features, as text\n", "feats.h5' is not an HDF5 file"),
    (None, "feats.h5' is damaged or unreadable"),
], ids=["text", "truncated"])
def test_what_is_not_a_whole_hdf5_file_is_named(tmp_path, content, message):
    path = feature_file(tmp_path)
    path.write_bytes(content if content is not None else path.read_bytes()[:1500])
    with pytest.raises(FileFormatError, match=message):
        load_features(path, DATASET)


# -- shards and the .partial file of python -m caption.features -------------------------

def test_a_shard_is_read_with_its_imgids(tmp_path):
    write_features(tmp_path / "part1.h5", rows(2), [13, 11])
    array, imgids, regions = read_shard(tmp_path / "part1.h5", expected_dim=3)
    assert regions is None
    np.testing.assert_array_equal(array, rows(2))
    assert imgids.tolist() == [13, 11] and array.dtype == np.float32


def test_a_bad_shard_is_named(tmp_path):
    features = rows(2)
    features[1, 0] = np.nan
    write_features(tmp_path / "part1.h5", features, [13, 11])
    with pytest.raises(FeaturesError, match="part1.h5: 1 of 2 feature rows hold NaN or inf, "
                                            "the first for imgid 11"):
        read_shard(tmp_path / "part1.h5")
    with pytest.raises(FeaturesError, match="part1.h5: features are 3-d, but .* 512-d"):
        read_shard(tmp_path / "part1.h5", expected_dim=512)


def partial_file(tmp_path, imgids=IMGIDS, dim=3, build=None):
    """A .partial file as python -m caption.features creates it."""
    path = tmp_path / "feats.h5.partial"
    with h5py.File(path, "w") as f:
        f.create_dataset("features", (len(imgids), dim), dtype=np.float32)
        f.create_dataset("imgid", data=np.asarray(imgids, np.int64))
        f.create_dataset("done", (len(imgids),), dtype=bool)
        if build:
            build(f)
    return path


def test_a_partial_file_for_this_run_passes(tmp_path, monkeypatch):
    path = partial_file(tmp_path)
    read = recorded_reads(monkeypatch)
    check_partial(path, np.asarray(IMGIDS), 3)
    assert read == ["/imgid"]


@pytest.mark.parametrize("imgids, dim, build, message", [
    (IMGIDS[::-1], 3, None, r"for other images \(its imgids differ\)"),
    (IMGIDS, 4, None, r"for other images or another CNN \(it declares .*'features': \(5, 3\)"),
    (IMGIDS[:4], 3, None, "for other images or another CNN"),
    (IMGIDS, 3, lambda f: f.__delitem__("done"), r"holds the datasets \['features', 'imgid'\]"),
    (IMGIDS, 3, lambda f: (f.__delitem__("done"), f.create_dataset("done", (5,), np.float32)),
     "dataset 'done' holds float32, expected booleans"),
], ids=["other imgids", "other cnn", "other count", "no done flags", "float done flags"])
def test_a_partial_file_that_does_not_fit_is_named(tmp_path, imgids, dim, build, message):
    path = partial_file(tmp_path, build=build)
    with pytest.raises(FeaturesError, match="feats.h5.partial: .*" + message):
        check_partial(path, np.asarray(imgids), dim)


# -- neuraltalk's vgg_feats.mat -------------------------------------------------------

scipy_io = pytest.importorskip("scipy.io")


def mat_file(tmp_path, **variables):
    path = tmp_path / "vgg_feats.mat"
    scipy_io.savemat(path, variables)
    return path


def test_a_mat_file_of_another_cnn_is_refused_from_its_header(tmp_path, monkeypatch):
    path = mat_file(tmp_path, feats=rows().T)
    monkeypatch.setattr(scipy_io, "loadmat", lambda *args, **kwargs: pytest.fail("read"))
    with pytest.raises(FeaturesError, match="vgg_feats.mat: features are 3-d, but the CNN "
                                            "chosen gives 4096-d"):
        load_features(path, DATASET, expected_dim=4096)
    with pytest.raises(FeaturesError, match="vgg_feats.mat: 'feats' has 5 columns but "
                                            "dataset.json lists 4 images"):
        load_features(path, SimpleNamespace(images=DATASET.images[:4], json_path="dataset.json"))


@pytest.mark.parametrize("variables, message", [
    ({"other": np.ones((3, 5))}, r"no variable 'feats' \(D, N\); it holds \['other'\]"),
    ({"feats": np.array(["abcde"] * 3)}, r"'feats' is a char of shape .*expected a 2-d "
                                         r"numeric \(D, N\) array"),
    ({"feats": np.ones((3, 5, 2))}, r"'feats' is a double of shape \(3, 5, 2\)"),
    ({"feats": np.where(np.arange(15).reshape(3, 5) == 7, np.nan, 1.0)},   # column 2
     "1 of 5 feature rows hold NaN or inf, the first for imgid 12"),
], ids=["no feats", "text", "3-d", "nan"])
def test_a_bad_mat_file_is_named(tmp_path, variables, message):
    with pytest.raises(FeaturesError, match="vgg_feats.mat: " + message):
        load_features(mat_file(tmp_path, **variables), DATASET)


def matlab_v73(path):
    """A MATLAB 7.3 file: HDF5 behind a 512-byte user block holding MATLAB's header."""
    with h5py.File(path, "w", userblock_size=512) as f:
        f["feats"] = rows()
    header = b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM"
    with open(path, "r+b") as f:
        f.write(header)


@pytest.mark.parametrize("write, message", [
    (lambda path: path.write_text("not matlab"), "cannot read as a MATLAB file"),
    (matlab_v73, "cannot read this MATLAB version"),
    (os.mkfifo, "not a regular file"),
], ids=["text", "v7.3", "fifo"])
def test_what_scipy_cannot_read_is_named(tmp_path, write, message):
    path = tmp_path / "vgg_feats.mat"
    write(path)
    with pytest.raises(FeaturesError, match="vgg_feats.mat: " + message):
        load_features(path, DATASET)
