"""VGG-16 (configuration D, thesis Fig. 3.4) against a plain torch.nn
reference on the same random weights, and the three converters: each test
writes a source file in that format (Lasagne pickle, Keras HDF5, torchvision
state dict) from the reference's weights, converts it, and must get the
reference's logits back. One 224×224 image; the nets are built once."""
import pickle
import struct

import h5py
import numpy as np
import pytest
import torch

import caption.cnn
import nnscratch.io
from caption.cnn import build, convert, weightfile
from nnscratch import no_grad
from torch_cnn_reference import TorchVGG16, random_state, run, torch_model

pytestmark = pytest.mark.slow

LAYERS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
          "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7", "fc8"]


def assert_close(ours, reference, rtol=1e-4):
    """Equal up to rtol relative to the reference's largest magnitude."""
    error = np.abs(ours - reference).max() / np.abs(reference).max()
    assert error < rtol, f"relative error {error:.2e}"


@pytest.fixture(scope="module")
def reference():
    """Random weights (our layout), the torch net on them, one random image,
    and the torch net's logits and fc7 for it."""
    state = random_state(TorchVGG16, seed=1)
    model = torch_model(TorchVGG16, state)
    x = (np.random.default_rng(2).standard_normal((1, 3, 224, 224)) * 60).astype(np.float32)
    fc7, logits = run(model.fc7_and_logits, x)
    return state, model, x, logits, fc7


@pytest.fixture(scope="module")
def net():
    return build("vgg16", weights=False)


def test_vgg16_matches_torch(reference, net):
    state, _, x, logits, fc7 = reference
    net.load_state_dict(state)
    with no_grad():
        assert_close(net(x).numpy(), logits)
        features = net.features(x).numpy()
    assert features.shape == (1, 4096) and features.min() >= 0
    assert_close(features, fc7)
    assert list(net.state_dict())[:3] == ["conv1_1/W", "conv1_1/b", "conv1_2/W"]


def test_one_pass_gives_fc7_and_the_conv5_3_map_that_attention_reads(reference, net):
    state, model, x, _, fc7 = reference
    net.load_state_dict(state)
    with no_grad():
        vector, conv5_3 = net.features_and_map(x)
    assert conv5_3.shape == (1, 512, 14, 14)   # after its ReLU, before pool5
    assert_close(vector.numpy(), fc7)
    assert_close(conv5_3.numpy(), run(model.features[:-1], x))


def test_wrong_input_size_is_named(net):
    with pytest.raises(ValueError, match=r"pool5 has shape \(512, 2, 2\)"):
        with no_grad():
            net.features(np.zeros((1, 3, 64, 64), np.float32))


# -- source files in each format, written from the reference weights ---------

class Python2Pickler(pickle._Pickler):
    """Protocol 2 with every bytes object written as a Python 2 str (BINSTRING),
    as in Lasagne's files, which Python 2 wrote: keys, names, array data."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


def write_lasagne(path, state, model):
    """Lasagne Recipes: conv W (F, C, KH, KW) unflipped, DenseLayer W (D, M):
    our layouts, in one list, W then b of each layer."""
    values = [state[f"{name}/{p}"] for name in LAYERS for p in ("W", "b")]
    names = [f"class {i}, synonym".encode() for i in range(1000)]
    model_file = {b"param values": values, b"synset words": names,
                  b"mean value": np.array([103.939, 116.779, 123.68])}
    with open(path, "wb") as f:
        Python2Pickler(f, protocol=2).dump(model_file)


def write_keras(path, state, model):
    """Keras: a group per layer, kernels (KH, KW, C, F), Dense (D, M) with fc1's
    rows in (row, column, channel) order of the channels-last 7×7×512 map."""
    keras_names = ([f"block{n[4]}_conv{n[6]}" for n in LAYERS[:13]]
                   + ["fc1", "fc2", "predictions"])
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in ["input_1"] + keras_names[:13]
                                  + ["flatten"] + keras_names[13:]]
        f.create_group("input_1").attrs["weight_names"] = []
        f.create_group("flatten").attrs["weight_names"] = []
        for name, keras_name in zip(LAYERS, keras_names):
            W = state[f"{name}/W"]
            if W.ndim == 4:
                W = W.transpose(2, 3, 1, 0)
            elif name == "fc6":  # rows (c, h, w) -> (h, w, c)
                W = W.reshape(512, 7 * 7, 4096).transpose(1, 0, 2).reshape(25088, 4096)
            group = f.create_group(keras_name)
            weight_names = [f"{keras_name}/kernel:0", f"{keras_name}/bias:0"]
            group.attrs["weight_names"] = [n.encode() for n in weight_names]
            group[weight_names[0]] = np.ascontiguousarray(W)
            group[weight_names[1]] = state[f"{name}/b"]


def write_torchvision(path, state, model):
    """torchvision: the reference model's own state dict ("features.0.weight", ...)."""
    torch.save(model.state_dict(), path)


SOURCES = {
    "lasagne": (write_lasagne, "BGR", [103.939, 116.779, 123.68], [1, 1, 1], "class 281, synonym"),
    "keras": (write_keras, "BGR", [103.939, 116.779, 123.68], [1, 1, 1], "tabby, tabby cat"),
    "torchvision": (write_torchvision, "RGB", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225],
                    "tabby, tabby cat"),
}


@pytest.mark.parametrize("source_format", sorted(SOURCES))
def test_converted_file_gives_the_reference_logits(source_format, reference, net, tmp_path):
    state, model, x, logits, _ = reference
    write, order, mean, std, class_281 = SOURCES[source_format]
    src, out = tmp_path / f"source.{source_format}", tmp_path / "vgg16.h5"
    write(src, state, model)
    convert.convert_vgg16(source_format, src, out)
    src.unlink()
    metadata = nnscratch.io.load_metadata(out)
    assert metadata["architecture"] == "vgg16"
    preprocessing = metadata["preprocessing"]
    assert preprocessing["channel_order"] == order and preprocessing["input_size"] == 224
    np.testing.assert_allclose(preprocessing["mean"], mean)
    np.testing.assert_allclose(preprocessing["std"], std)
    assert len(metadata["class_names"]) == 1000 and metadata["class_names"][281] == class_281
    converted = nnscratch.io.load(out)
    assert list(converted) == list(net.state_dict())
    net.load_state_dict(converted)
    with no_grad():
        assert_close(net(x).numpy(), logits)


def test_keras_fc1_rows_are_permuted_to_channel_row_column():
    rows = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # a (H, W, C) map's flat positions
    W = rows.reshape(-1, 1)
    permuted = weightfile.hwc_rows_to_chw(W, (2, 3, 4))
    np.testing.assert_array_equal(permuted[:, 0], rows.transpose(2, 0, 1).reshape(-1))


def test_missing_default_vgg16_weights_say_how_to_convert(monkeypatch, tmp_path):
    monkeypatch.setattr(caption.cnn, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(caption.cnn, "CHECKOUT_WEIGHTS", tmp_path / "checkout")
    with pytest.raises(FileNotFoundError, match="python -m caption.cnn.convert --from lasagne"):
        caption.cnn.default_weights("vgg16")


def test_a_file_that_is_not_lasagne_is_refused_by_name(tmp_path):
    src = tmp_path / "vgg16.pkl"
    src.write_bytes(pickle.dumps({"weights": [np.zeros(3)]}, protocol=2))
    with pytest.raises(weightfile.ConversionError, match="lacks"):
        convert.convert_vgg16("lasagne", src, tmp_path / "out.h5")


def test_convert_command_line_reports_a_refused_pickle(tmp_path, capsys):
    src = tmp_path / "vgg16.pkl"
    src.write_bytes(b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.")
    assert convert.main(["--from", "lasagne", str(src), "--out", str(tmp_path / "o.h5")]) == 1
    assert "refused global 'os.system'" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()
    with pytest.raises(SystemExit) as info:
        convert.main(["--help"])
    assert info.value.code == 0 and "--from" in capsys.readouterr().out
