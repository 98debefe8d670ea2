"""Saving and loading state dicts in HDF5: round trips, nested groups,
metadata, atomic writes, clear errors, and files from outside that are
refused (links, external storage, virtual datasets, huge declared shapes)."""
import os
from collections import OrderedDict

import h5py
import numpy as np
import pytest

from hdf5_reads import never_read, recorded_reads
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


# -- files from outside: every bad file is a FileFormatError naming the file and key ----

READERS = [io.inspect, io.load, io.load_metadata]


@pytest.mark.parametrize("reader", READERS)
def test_a_file_that_is_not_hdf5_is_named(tmp_path, reader):
    path = tmp_path / "weights.h5"
    path.write_text("a text file, not HDF5\n")
    with pytest.raises(io.FileFormatError, match="weights.h5' is not an HDF5 file"):
        reader(path)


@pytest.mark.parametrize("reader", READERS)
def test_a_truncated_file_is_named(tmp_path, reader):
    path = tmp_path / "model.h5"
    io.save(path, state())
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(io.FileFormatError, match="model.h5' is damaged or unreadable.*truncated"):
        reader(path)


@pytest.mark.parametrize("reader", READERS)
def test_a_fifo_is_refused_without_blocking(tmp_path, reader):
    path = tmp_path / "model.h5"
    os.mkfifo(path)
    with pytest.raises(io.FileFormatError, match="model.h5' is not a regular file"):
        reader(path)


def hostile(tmp_path, build):
    """A file with one good array "model/W" and what ``build(f)`` adds."""
    path = tmp_path / "hostile.h5"
    with h5py.File(path, "w") as f:
        f["model/W"] = np.ones((2, 3), np.float32)
        build(f)
    return path


def external_storage(f):
    secret = f.filename.replace("hostile.h5", "secret.bin")
    np.arange(4, dtype=np.float32).tofile(secret)
    f.create_dataset("model/b", (4,), np.float32, external=[(secret, 0, 16)])


def virtual_dataset(f):
    layout = h5py.VirtualLayout((4,), np.float32)
    layout[:] = h5py.VirtualSource("other.h5", "x", shape=(4,))
    f.create_virtual_dataset("model/b", layout)


HOSTILE = {
    "external storage": (external_storage, r"'model/b' is stored in external files.*secret.bin"),
    "external link": (lambda f: f.__setitem__("model/b", h5py.ExternalLink("/etc/other.h5", "/x")),
                      r"'model/b' is a ExternalLink; links are refused"),
    "soft link": (lambda f: f.__setitem__("model/b", h5py.SoftLink("/model/W")),
                  r"'model/b' is a SoftLink; links are refused"),
    "virtual dataset": (virtual_dataset, r"'model/b' is a virtual dataset"),
    "named datatype": (lambda f: f.__setitem__("model/b", np.dtype("f4")),
                       r"'model/b' is a Datatype, neither a group nor an array"),
    "second hard link": (lambda f: f.__setitem__("model/b", f["model/W"]),
                         r"'model/b' is a second link"),
    "hard-linked cycle": (lambda f: f.__setitem__("model/loop", f["model"]),
                          r"'model/loop' is a second link"),
    "strings": (lambda f: f.create_dataset("model/b", data=np.array([b"ab", b"cd"])),
                r"'model/b' holds strings, not numbers"),
    "variable-length strings": (lambda f: f.create_dataset("model/b", data=["ab"],
                                                           dtype=h5py.string_dtype()),
                                r"'model/b' holds strings, not numbers"),
    "compound records": (lambda f: f.create_dataset("model/b", (2,), [("x", "i4"), ("y", "f4")]),
                         r"'model/b' holds records \[\('x'.*, not numbers"),
    "variable-length arrays": (lambda f: f.create_dataset("model/b", (2,),
                                                          h5py.vlen_dtype(np.float32)),
                               r"'model/b' holds variable-length arrays, not numbers"),
    "complex numbers": (lambda f: f.create_dataset("model/b", data=np.ones(2, np.complex64)),
                        r"'model/b' holds dtype complex64, not numbers"),
}


@pytest.mark.parametrize("reader", [io.inspect, io.load])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_what_lives_outside_the_file_or_is_not_an_array_is_refused(tmp_path, case, reader):
    build, message = HOSTILE[case]
    path = hostile(tmp_path, build)
    with pytest.raises(io.FileFormatError, match="hostile.h5': key " + message):
        reader(path)


def test_refused_before_any_array_is_read(tmp_path, monkeypatch):
    """No dataset is read when the file holds an external link anywhere."""
    path = hostile(tmp_path, lambda f: f.__setitem__("z", h5py.ExternalLink("other.h5", "/x")))
    never_read(monkeypatch)
    with pytest.raises(io.FileFormatError, match="'z' is a ExternalLink"):
        io.load(path)


def huge(f):
    """Declares 4 TB; with no chunk written the file stays a few kB."""
    f.create_dataset("model/b", (10**6, 10**6), np.float32, chunks=(100, 100))


def test_a_huge_declared_dataset_is_refused_from_its_header(tmp_path, monkeypatch):
    path = hostile(tmp_path, huge)
    assert path.stat().st_size < 100_000
    assert io.inspect(path) == {"model/W": ((2, 3), np.float32),
                                "model/b": ((10**6, 10**6), np.float32)}
    never_read(monkeypatch)
    with pytest.raises(io.FileFormatError, match=r"hostile.h5' does not hold what was expected: "
                       r"key 'model/b' has shape \(1000000, 1000000\), expected \(3,\)"):
        io.load(path, expected={"model/W": (2, 3), "model/b": (3,)})


def test_missing_extra_and_misshapen_keys_are_all_named(tmp_path):
    path = tmp_path / "model.h5"
    io.save(path, {"W": np.ones((2, 3)), "b": np.ones(3), "extra": np.ones(1)})
    with pytest.raises(io.FileFormatError) as error:
        io.load(path, expected={"W": (3, 2), "b": (3,), "c": (4,)})
    message = str(error.value)
    assert message.endswith("model.h5' does not hold what was expected: key 'W' has shape "
                            "(2, 3), expected (3, 2); missing keys 'c' (4,); "
                            "unexpected keys 'extra' (1,)")


def test_a_long_list_of_keys_is_cut_short(tmp_path):
    path = tmp_path / "model.h5"
    io.save(path, {f"layer{i}/W": np.ones(1) for i in range(8)})
    with pytest.raises(io.FileFormatError, match=r"unexpected keys 'layer0/W' \(1,\), "
                                                 r"'layer1/W' .* 'layer4/W' \(1,\), and 3 more$"):
        io.load(path, expected={})


def checkpoint(tmp_path):
    path = tmp_path / "last.h5"
    io.save(path, {"model/W": np.ones((2, 3)), "optimizer/steps": np.asarray(4),
                   "optimizer/0/m": np.zeros((2, 3))})
    return path


def test_optional_keys_may_be_absent_but_keep_their_shape(tmp_path):
    path = checkpoint(tmp_path)
    expected = {"model/W": (2, 3), "optimizer/steps": ()}
    optional = {"optimizer/0/m": (2, 3), "optimizer/0/v": (2, 3)}
    assert list(io.load(path, expected, optional)) == ["model/W", "optimizer/steps",
                                                       "optimizer/0/m"]
    with pytest.raises(io.FileFormatError, match=r"'optimizer/0/m' has shape \(2, 3\), "
                                                 r"expected \(3, 2\)"):
        io.load(path, expected, {"optimizer/0/m": (3, 2)})


def test_skipped_groups_are_not_read(tmp_path, monkeypatch):
    path = checkpoint(tmp_path)
    read = recorded_reads(monkeypatch)
    state = io.load(path, expected={"model/W": (2, 3)}, skip=("optimizer",))
    assert list(state) == ["model/W"] and read == ["/model/W"]
    with pytest.raises(io.FileFormatError, match=r"unexpected keys 'optimizer/steps' \(\),"):
        io.load(path, expected={"model/W": (2, 3)}, skip=("optim",))  # whole names only


def write_metadata(tmp_path, value, **kwargs):
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as f:
        f.attrs.create("metadata", value, **kwargs)
    return path


def test_metadata_written_as_variable_length_string_still_loads(tmp_path):
    """Files saved before the metadata became a fixed-length string."""
    path = write_metadata(tmp_path, '{"epoch": 3, "word": "ñandú"}', dtype=h5py.string_dtype())
    assert io.load_metadata(path) == {"epoch": 3, "word": "ñandú"}


@pytest.mark.parametrize("value, kwargs, message", [
    ("{not json", {}, "is not JSON"),
    (b"\xff\xfe", {"dtype": h5py.string_dtype("utf-8", 2)}, "is not JSON"),
    ("[1, 2]", {}, "holds a JSON list, not an object"),
    (np.arange(3), {}, r"must be one string, not int64 of shape \(3,\)"),
    (["{}", "{}"], {}, r"must be one string, not object of shape \(2,\)"),
    ("[" * 100_000 + "]" * 100_000, {}, "is not JSON"),
], ids=["not json", "not utf-8", "a list", "numbers", "two strings", "deeply nested"])
def test_bad_metadata_is_named(tmp_path, value, kwargs, message):
    path = write_metadata(tmp_path, value, **kwargs)
    with pytest.raises(io.FileFormatError, match="model.h5': attribute 'metadata' " + message):
        io.load_metadata(path)


@pytest.mark.parametrize("dtype", [h5py.string_dtype("utf-8", 20), h5py.string_dtype()],
                         ids=["fixed-length", "variable-length"])
def test_metadata_beyond_the_bound_is_refused(tmp_path, monkeypatch, dtype):
    monkeypatch.setattr(io, "MAX_METADATA_BYTES", 10)
    path = write_metadata(tmp_path, '{"a": "0123456789"}', dtype=dtype)
    with pytest.raises(io.FileFormatError, match=r"'metadata' is (19|20) .*than the 10 allowed"):
        io.load_metadata(path)


def test_saved_metadata_is_measured_from_its_header(tmp_path):
    path = tmp_path / "model.h5"
    io.save(path, {}, {"vocab": ["a", "b"]})
    with h5py.File(path, "r") as f:
        string = h5py.check_string_dtype(f.attrs.get_id("metadata").dtype)
    assert string.encoding == "utf-8" and string.length == len('{"vocab": ["a", "b"]}')


def test_a_checkpoint_of_model_and_optimizer_is_checked_as_the_docstring_says(tmp_path):
    from nnscratch.optim import Adam
    model = Sequential(fc6=Linear(4, 3, rng=np.random.default_rng(0)), relu6=ReLU(),
                       fc7=Linear(3, 2, rng=np.random.default_rng(1)))
    optimizer = Adam(model.parameters(), lr=0.1)
    model.fc7.W.grad = np.ones((3, 2), np.float32)   # one step of one parameter: its slots only
    optimizer.step()
    path = tmp_path / "last.h5"
    io.save(path, {**{f"model/{k}": v for k, v in model.state_dict().items()},
                   **{f"optimizer/{k}": v for k, v in optimizer.state_dict().items()}})

    expected = {f"model/{k}": p.shape for k, p in model.named_parameters()}
    expected["optimizer/steps"] = ()
    expected["optimizer/counts"] = (len(optimizer.params),)
    optional = {f"optimizer/{i}/{slot}": p.shape
                for i, p in enumerate(optimizer.params) for slot in optimizer.slot_names}
    state = io.load(path, expected, optional)
    resumed = Adam(model.parameters(), lr=0.1)
    resumed.load_state_dict({k[len("optimizer/"):]: v for k, v in state.items()
                             if k.startswith("optimizer/")})
    assert resumed.steps == 1 and resumed.counts == [0, 0, 1, 0]

    model_only = {k: v for k, v in expected.items() if k.startswith("model/")}
    assert list(io.load(path, model_only, skip=("optimizer",))) == list(model_only)
    smaller = Sequential(fc6=Linear(4, 2), relu6=ReLU(), fc7=Linear(2, 2))
    with pytest.raises(io.FileFormatError, match=r"last.h5' .*key 'model/fc6/W' has shape "
                                                 r"\(4, 3\), expected \(4, 2\)"):
        io.load(path, {f"model/{k}": p.shape for k, p in smaller.named_parameters()},
                skip=("optimizer",))
