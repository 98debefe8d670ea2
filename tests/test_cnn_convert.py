"""Hostile Keras source files for the VGG-16 converter: refused by name,
from their headers, before any array is read (the whole conversion is
checked against torch in test_cnn_vgg16.py)."""
import h5py
import numpy as np
import pytest

import hdf5_reads
from caption.cnn import convert
from caption.cnn.weightfile import ConversionError
from nnscratch.io import FileFormatError

CONV1_1 = {"conv1_1/W": (64, 3, 3, 3), "conv1_1/b": (64,)}   # the first layer read


@pytest.fixture
def never_read(monkeypatch):
    """Reading any dataset fails the test; VGG-16's shapes are those of its first layer."""
    hdf5_reads.never_read(monkeypatch)
    monkeypatch.setattr(convert, "vgg16_shapes", lambda: CONV1_1)


def keras_file(tmp_path, kernel_shape=(3, 3, 3, 64), extra=None):
    path = tmp_path / "vgg16_weights.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("block1_conv1")
        group.create_dataset("block1_conv1/kernel:0", kernel_shape, np.float32, chunks=True)
        group.create_dataset("block1_conv1/bias:0", (64,), np.float32)
        if extra:
            extra(f)
    return path


def test_a_huge_declared_kernel_is_refused_naming_the_layer_and_shapes(tmp_path, never_read):
    src = keras_file(tmp_path, kernel_shape=(3, 3, 3, 10**9))
    with pytest.raises(ConversionError, match=r"vgg16_weights.h5': layer 'block1_conv1' \(our "
                                              r"conv1_1\) should hold a kernel \(3, 3, 3, 64\) "
                                              r"and a bias \(64,\); it holds .*"
                                              r"\(3, 3, 3, 1000000000\)"):
        convert.read_keras_vgg16(src)


def test_a_layer_with_a_third_array_is_refused(tmp_path, never_read):
    src = keras_file(tmp_path, extra=lambda f: f.create_dataset("block1_conv1/x", (1,), "f4"))
    with pytest.raises(ConversionError, match="layer 'block1_conv1'.*'block1_conv1/x'"):
        convert.read_keras_vgg16(src)


@pytest.mark.parametrize("link, kind", [(h5py.ExternalLink("/etc/other.h5", "/x"), "ExternalLink"),
                                        (h5py.SoftLink("/block1_conv1"), "SoftLink")])
def test_links_in_a_keras_file_are_refused(tmp_path, never_read, link, kind):
    src = keras_file(tmp_path, extra=lambda f: f.__setitem__("fc1", link))
    with pytest.raises(FileFormatError, match=f"vgg16_weights.h5': key 'fc1' is a {kind}"):
        convert.read_keras_vgg16(src)


def test_the_command_line_reports_a_refused_file_in_one_line(tmp_path, never_read, capsys):
    src = keras_file(tmp_path, extra=lambda f: f.__setitem__("fc1", h5py.SoftLink("/x")))
    out = tmp_path / "vgg16.h5"
    assert convert.main(["--from", "keras", str(src), "--out", str(out)]) == 1
    assert "key 'fc1' is a SoftLink" in capsys.readouterr().err
    assert not out.exists()
