"""Saving and loading state dicts in HDF5: round trips, nested groups,
metadata, atomic writes and clear errors."""
import os
from collections import OrderedDict

import h5py
import numpy as np
import pytest

from nnscratch import io
from nnscratch.layers import Conv2d, Linear, ReLU, Sequential


def state():
    rng = np.random.default_rng(0)
    return OrderedDict([
        ("conv1_1/W", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        ("conv1_1/b", np.zeros(4, np.float32)),
        ("encoder/lstm/Wx", rng.standard_normal((5, 8))),
        ("counts", np.arange(3, dtype=np.int64)),
        ("steps", np.asarray(7)),
        ("a_last", np.ones(2, np.float16)),
    ])


def test_round_trip_keeps_values_dtypes_and_order(tmp_path):
    path = tmp_path / "model.h5"
    io.save(path, state())
    loaded = io.load(path)
    assert isinstance(loaded, OrderedDict)
    assert list(loaded) == list(state())  # the order written, not alphabetical
    for key, value in state().items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape, key
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)
    assert io.load_metadata(path) == {}


def test_keys_become_nested_groups(tmp_path):
    path = tmp_path / "model.h5"
    io.save(path, state())
    with h5py.File(path, "r") as f:
        assert isinstance(f["encoder"], h5py.Group) and isinstance(f["encoder/lstm"], h5py.Group)
        assert f["encoder/lstm/Wx"].shape == (5, 8)
        assert list(f["conv1_1"]) == ["W", "b"]


def test_metadata_round_trip(tmp_path):
    path = tmp_path / "model.h5"
    metadata = {"vocab": ["<pad>", "a", "red", "ñandú"], "mean": [104.0, 116.7, 122.7],
                "settings": {"lr": 0.001, "cnn": None, "beam": 3}}
    io.save(path, state(), metadata=metadata)
    assert io.load_metadata(path) == metadata


def test_module_state_dict_round_trip_through_a_file(tmp_path):
    def model(seed):
        rng = np.random.default_rng(seed)
        return Sequential(fc6=Linear(4, 3, rng=rng), relu6=ReLU(), fc7=Linear(3, 2, rng=rng))

    source, target = model(1), model(2)
    io.save(tmp_path / "m.h5", source.state_dict())
    target.load_state_dict(io.load(tmp_path / "m.h5"))
    for (name, p), (_, q) in zip(source.named_parameters(), target.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_saved_conv_keys_read_like_an_architecture_table(tmp_path):
    rng = np.random.default_rng(3)
    net = Sequential(conv1_1=Conv2d(3, 4, 3, pad=1, rng=rng), relu1_1=ReLU())
    io.save(tmp_path / "vgg.h5", net.state_dict())
    assert list(io.load(tmp_path / "vgg.h5")) == ["conv1_1/W", "conv1_1/b"]


def test_saving_again_replaces_the_file(tmp_path):
    path = tmp_path / "model.h5"
    io.save(path, state(), metadata={"epoch": 1})
    io.save(path, {"only": np.ones(3)}, metadata={"epoch": 2})
    assert list(io.load(path)) == ["only"] and io.load_metadata(path) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["model.h5"]


# -- atomic writes: a crash while saving leaves the previous file whole ----------------

def crash_on_second_dataset(monkeypatch):
    create_dataset = h5py.Group.create_dataset
    calls = []

    def crashing(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash while writing")
        return create_dataset(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", crashing)


def crash_before_rename(monkeypatch):
    def crashing(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crashing)


@pytest.mark.parametrize("crash", [crash_on_second_dataset, crash_before_rename],
                         ids=["mid_write", "before_rename"])
def test_a_crash_while_saving_keeps_the_previous_file(tmp_path, monkeypatch, crash):
    path = tmp_path / "model.h5"
    io.save(path, state(), metadata={"epoch": 1})
    with monkeypatch.context() as patch:
        crash(patch)
        with pytest.raises((KeyboardInterrupt, OSError), match="simulated crash"):
            io.save(path, {"new/W": np.zeros(3), "new/b": np.zeros(3)}, metadata={"epoch": 2})
    assert list(io.load(path)) == list(state())
    np.testing.assert_array_equal(io.load(path)["conv1_1/W"], state()["conv1_1/W"])
    assert io.load_metadata(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["model.h5"]  # the temporary file was removed


def test_the_file_appears_only_by_rename(tmp_path, monkeypatch):
    """Until os.replace, ``path`` itself is never opened for writing."""
    path, renames = tmp_path / "model.h5", []
    replace = os.replace

    def recording(src, dst):
        assert not os.path.exists(dst) and os.path.dirname(src) == os.path.dirname(dst)
        renames.append(dst)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    io.save(path, state())
    assert renames == [str(path)]


# -- errors -------------------------------------------------------------------------

@pytest.mark.parametrize("reader", [io.load, io.load_metadata])
def test_missing_file_is_named(tmp_path, reader):
    with pytest.raises(FileNotFoundError, match="no such file.*missing.h5"):
        reader(tmp_path / "missing.h5")


@pytest.mark.parametrize("reader", [io.load, io.load_metadata])
def test_a_file_that_is_not_hdf5_is_named(tmp_path, reader):
    path = tmp_path / "weights.pkl"
    path.write_bytes(b"\x80\x04not an hdf5 file")
    with pytest.raises(ValueError, match="weights.pkl' is not an HDF5 file"):
        reader(path)


def test_bad_keys_and_metadata_are_refused_and_leave_no_file(tmp_path):
    path = tmp_path / "model.h5"
    with pytest.raises(ValueError, match="'a//b'.*empty part"):
        io.save(path, {"a//b": np.zeros(1)})
    with pytest.raises(ValueError, match="'a/b'.*'a', which is an array"):
        io.save(path, {"a": np.zeros(1), "a/b": np.zeros(1)})
    with pytest.raises(ValueError, match="'a'.*clashes"):
        io.save(path, {"a/b": np.zeros(1), "a": np.zeros(1)})
    with pytest.raises(ValueError, match="metadata.*not JSON-able"):
        io.save(path, {"a": np.zeros(1)}, metadata={"array": np.zeros(2)})
    with pytest.raises(FileNotFoundError, match="directory.*nowhere"):
        io.save(tmp_path / "nowhere" / "model.h5", {"a": np.zeros(1)})
    assert os.listdir(tmp_path) == []
