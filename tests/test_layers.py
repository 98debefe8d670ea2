"""Modules and layers: registration, path-style keys, state dicts, modes,
devices, initialisation, and gradient checks of every layer with its
parameters."""
from collections import OrderedDict

import numpy as np
import pytest

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.gradcheck import gradcheck
from nnscratch.layers import (LSTM, RNN, Attention, Conv2d, Dropout, Embedding, Linear, MaxPool2d,
                              Module, Parameter, ReLU, Sequential)


def rng(seed=0):
    return np.random.default_rng(seed)


class Encoder(Module):
    def __init__(self):
        super().__init__()
        self.embed = Embedding(7, 3, rng=rng(1))
        self.lstm = LSTM(3, 4, rng=rng(2))
        self.drop = Dropout(0.5)


class Model(Module):
    def __init__(self):
        super().__init__()
        self.scale = Parameter(np.ones(2, np.float32))
        self.encoder = Encoder()
        self.head = Sequential(fc1=Linear(4, 5, rng=rng(3)), relu=ReLU(), fc2=Linear(5, 2, rng=rng(4)))


MODEL_KEYS = ["scale", "encoder/embed/W", "encoder/lstm/Wx", "encoder/lstm/Wh", "encoder/lstm/b",
              "head/fc1/W", "head/fc1/b", "head/fc2/W", "head/fc2/b"]


# -- registration and keys ----------------------------------------------------

def test_parameters_are_registered_in_assignment_order_with_path_keys():
    model = Model()
    names = [name for name, _ in model.named_parameters()]
    assert names == MODEL_KEYS
    assert [id(p) for p in model.parameters()] == [id(p) for _, p in model.named_parameters()]
    assert all(isinstance(p, Parameter) and p.requires_grad for p in model.parameters())


def test_reassigning_a_child_to_a_plain_value_unregisters_it():
    model = Model()
    model.scale = None
    del model.head
    assert [n for n, _ in model.named_parameters()] == MODEL_KEYS[1:5]


def test_shared_parameter_is_listed_once():
    a, b = Linear(3, 3, rng=rng()), Linear(3, 3, rng=rng())
    b.W = a.W
    model = Sequential(a, b)
    assert [n for n, _ in model.named_parameters()] == ["0/W", "0/b", "1/b"]


def test_assigning_before_super_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.W = Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_sequential_names_by_position_by_keyword_and_by_ordereddict():
    positional = Sequential(Linear(2, 3, rng=rng()), ReLU(), Linear(3, 1, rng=rng()))
    assert list(positional.state_dict()) == ["0/W", "0/b", "2/W", "2/b"]
    keyword = Sequential(conv1_1=Linear(2, 3, rng=rng()), relu1_1=ReLU())
    assert list(keyword.state_dict()) == ["conv1_1/W", "conv1_1/b"]
    ordered = Sequential(OrderedDict([("fc7", Linear(2, 2, rng=rng())), ("fc6", Linear(2, 2, rng=rng()))]))
    assert list(ordered.state_dict()) == ["fc7/W", "fc7/b", "fc6/W", "fc6/b"]
    assert len(keyword) == 2 and isinstance(keyword["relu1_1"], ReLU) and keyword[0] is keyword["conv1_1"]
    with pytest.raises(ValueError, match="not both"):
        Sequential(ReLU(), relu=ReLU())
    with pytest.raises(ValueError, match="'x'.*not a Module"):
        Sequential(x=3)


def test_sequential_applies_layers_in_order():
    first, second = Linear(2, 3, rng=rng(5)), Linear(3, 4, rng=rng(6))
    x = rng(7).standard_normal((5, 2)).astype(np.float32)
    y = Sequential(first, ReLU(), second)(x)
    expected = np.maximum(x @ first.W.data + first.b.data, 0) @ second.W.data + second.b.data
    np.testing.assert_allclose(y.data, expected, rtol=1e-6)


# -- state dicts --------------------------------------------------------------

def test_state_dict_round_trip_into_a_fresh_model():
    source, target = Model(), Model()
    for p in source.parameters():
        p.data[...] = rng(8).standard_normal(p.shape)
    state = source.state_dict()
    assert list(state) == MODEL_KEYS
    target.load_state_dict(state)
    for (name, p), (_, q) in zip(source.named_parameters(), target.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    # the state is a copy: changing the model later does not change it
    source.scale.data += 1
    assert np.all(state["scale"] == target.scale.data)


def test_load_state_dict_casts_to_the_parameter_dtype_in_place():
    layer = Linear(2, 3, rng=rng())
    W = layer.W.data
    layer.load_state_dict({"W": np.full((2, 3), 0.5, np.float64), "b": [1.0, 2.0, 3.0]})
    assert layer.W.data is W and W.dtype == np.float32 and np.all(W == 0.5)
    np.testing.assert_array_equal(layer.b.data, [1, 2, 3])


@pytest.mark.parametrize("change, pattern", [
    (lambda s: s.pop("head/fc1/b"), r"'head/fc1/b': missing.*\(5,\)"),
    (lambda s: s.update(extra=np.zeros((2, 2))), r"'extra': state has shape \(2, 2\).*no such"),
    (lambda s: s.update({"head/fc2/W": np.zeros((2, 5))}),
     r"'head/fc2/W': state has shape \(2, 5\), parameter has shape \(5, 2\)"),
])
def test_load_state_dict_errors_name_the_key_and_the_shapes(change, pattern):
    model, state = Model(), Model().state_dict()
    before = [p.data.copy() for p in model.parameters()]
    change(state)
    with pytest.raises(ValueError, match=pattern):
        model.load_state_dict(state)
    for p, old in zip(model.parameters(), before):  # nothing was half-loaded
        np.testing.assert_array_equal(p.data, old)


def test_load_state_dict_not_strict_skips_missing_and_extra_but_not_wrong_shapes():
    layer = Linear(2, 3, rng=rng())
    layer.load_state_dict({"b": np.ones(3), "unused": np.zeros(1)}, strict=False)
    np.testing.assert_array_equal(layer.b.data, np.ones(3))
    with pytest.raises(ValueError, match=r"'W'.*\(3, 2\).*\(2, 3\)"):
        layer.load_state_dict({"W": np.ones((3, 2))}, strict=False)


# -- modes, gradients, devices --------------------------------------------------

def test_train_and_eval_reach_nested_submodules():
    model = Model()
    modules = list(model.modules())
    assert len(modules) == 9 and all(m.training for m in modules)
    assert model.eval() is model
    assert not any(m.training for m in modules)
    model.encoder.train()
    assert model.encoder.drop.training and not model.head.training
    model.train()
    assert all(m.training for m in modules)


def test_dropout_is_the_identity_in_eval_and_drops_in_train():
    layer = Dropout(0.5, rng=rng(9))
    x = np.ones((20, 30), np.float32)
    y = layer(x).data
    assert set(np.unique(y)) == {0.0, 2.0} and 0.4 < np.mean(y == 0) < 0.6
    np.testing.assert_array_equal(layer.eval()(x).data, x)


def test_zero_grad_clears_every_parameter():
    model = Sequential(Linear(2, 3, rng=rng()), ReLU(), Linear(3, 1, rng=rng()))
    model(rng().standard_normal((4, 2)).astype(np.float32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_gpu_and_to_cpu_move_every_parameter(xp):
    if xp is np:
        pytest.skip("moving to the GPU needs cupy")
    model = Model().to_gpu()
    assert all(isinstance(p.data, xp.ndarray) for p in model.parameters())
    state = Model().state_dict()
    model.load_state_dict(state)  # host arrays into device parameters
    assert isinstance(model.scale.data, xp.ndarray)
    model.to_cpu()
    assert all(isinstance(p.data, np.ndarray) for p in model.parameters())
    np.testing.assert_array_equal(model.head.fc1.W.data, state["head/fc1/W"])


# -- initialisation --------------------------------------------------------------

def test_initialisation_is_float32_reproducible_and_scaled():
    a, b = Linear(400, 300, rng=rng(10)), Linear(400, 300, rng=rng(10))
    np.testing.assert_array_equal(a.W.data, b.W.data)
    assert a.W.dtype == np.float32 and np.all(a.b.data == 0)
    assert abs(a.W.data.std() - np.sqrt(2 / 400)) < 0.02 * np.sqrt(2 / 400)  # He
    rnn = RNN(300, 200, rng=rng(11))
    bound = np.sqrt(6 / 500)  # Xavier uniform
    assert np.abs(rnn.Wx.data).max() <= bound and np.abs(rnn.Wx.data).max() > 0.99 * bound


def test_lstm_forget_gate_bias_starts_at_one():
    lstm = LSTM(3, 4, rng=rng())
    assert lstm.Wx.shape == (3, 16) and lstm.Wh.shape == (4, 16)
    np.testing.assert_array_equal(lstm.b.data, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])


# -- forward values and the shared step -------------------------------------------

def test_linear_keeps_leading_axes():
    layer = Linear(3, 2, rng=rng())
    x = rng(12).standard_normal((4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(x).data, x @ layer.W.data + layer.b.data, rtol=1e-6)


def test_rnn_forward_equals_repeated_steps():
    layer = RNN(3, 4, activation="relu", rng=rng(13))
    x = rng(14).standard_normal((2, 5, 3))
    h, hs = None, []
    for t in range(5):
        h = layer.step(x[:, t], h)
        hs.append(h.data)
    np.testing.assert_allclose(layer(x).data, np.stack(hs, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="activation"):
        RNN(3, 4, activation="sigmoid")


def test_lstm_forward_equals_repeated_steps():
    layer = LSTM(3, 4, rng=rng(15))
    x = rng(16).standard_normal((2, 5, 3))
    h, c, hs = None, None, []
    for t in range(5):
        h, c = layer.step(x[:, t], h, c)
        hs.append(h.data)
    np.testing.assert_allclose(layer(x).data, np.stack(hs, axis=1), rtol=1e-6)


# -- gradient checks of layers with their parameters --------------------------------

def small(*shape, seed=17):
    return rng(seed).standard_normal(shape)


LAYER_CASES = {
    "linear": lambda: (Linear(3, 2, rng=rng()), [small(4, 3)]),
    "linear_no_bias_3d": lambda: (Linear(3, 2, bias=False, rng=rng()), [small(2, 2, 3)]),
    "relu": lambda: (ReLU(), [small(3, 4)]),
    "dropout_eval": lambda: (Dropout(0.3).eval(), [small(3, 4)]),
    "embedding": lambda: (Embedding(5, 3, rng=rng()), [np.array([[0, 4, 4], [2, 0, 1]])]),
    "rnn_tanh": lambda: (RNN(3, 4, rng=rng()), [small(2, 3, 3)]),
    "rnn_relu_h0": lambda: (RNN(3, 4, activation="relu", rng=rng()), [small(2, 3, 3), small(2, 4)]),
    "lstm": lambda: (LSTM(3, 2, rng=rng()), [small(2, 3, 3)]),
    "lstm_h0_c0": lambda: (LSTM(2, 3, rng=rng()), [small(2, 3, 2), small(2, 3), small(2, 3)]),
    "sequential": lambda: (Sequential(fc1=Linear(3, 4, rng=rng()), relu=ReLU(),
                                      fc2=Linear(4, 2, rng=rng())), [small(5, 3)]),
    "conv2d": lambda: (Conv2d(2, 3, 3, stride=2, pad=1, rng=rng()), [small(2, 2, 5, 5)]),
    "conv2d_no_bias": lambda: (Conv2d(1, 2, (3, 2), bias=False, rng=rng()), [small(1, 1, 4, 4)]),
    "maxpool2d": lambda: (MaxPool2d(2, ceil_mode=True), [small(1, 2, 5, 5)]),
    "cnn": lambda: (Sequential(conv=Conv2d(1, 2, 3, pad=1, rng=rng()), relu=ReLU(),
                               pool=MaxPool2d(2)), [small(1, 1, 6, 5)]),
    "attention": lambda: (Attention(5, 4, 3, rng=rng()), [small(2, 3, 5), small(2, 6, 4, seed=18)]),
}


@pytest.mark.parametrize("make", LAYER_CASES.values(), ids=LAYER_CASES.keys())
def test_layer_gradcheck_with_parameters(make):
    layer, inputs = make()
    assert gradcheck(layer, inputs)


class Step(Module):
    """An LSTM step as a module returning (h, c), for gradcheck of ``step``."""

    def __init__(self):
        super().__init__()
        self.lstm = LSTM(3, 2, rng=rng())

    def forward(self, x, h, c):
        return self.lstm.step(x, h, c)


def test_lstm_step_gradcheck_with_parameters():
    assert gradcheck(Step(), [small(2, 3), small(2, 2), small(2, 2)])


def test_gradcheck_names_the_parameter_of_a_broken_layer():
    class Broken(Linear):
        def forward(self, x):  # b's gradient is lost: data-only addition
            return F.linear(x, self.W) + Tensor(self.b.data)

    with pytest.raises(AssertionError, match="parameter b"):
        gradcheck(Broken(3, 2, rng=rng()), [small(4, 3)])


def test_attention_weights_are_a_softmax_over_regions_and_average_them():
    layer = Attention(5, 4, 3, rng=rng())
    queries, regions = small(2, 3, 5), small(2, 6, 4, seed=18)
    context, weights = layer(queries, regions)
    q, k = queries @ layer.query.W.data, regions @ layer.key.W.data
    scores = np.einsum("nta,nla->ntl", q, k)
    expected = np.exp(scores) / np.exp(scores).sum(axis=2, keepdims=True)
    assert weights.shape == (2, 3, 6) and np.allclose(weights.data, expected)
    assert np.allclose(weights.data.sum(axis=2), 1)
    assert np.allclose(context.data, np.einsum("ntl,nlc->ntc", expected, regions))


def test_attention_looks_at_the_region_its_query_matches():
    layer = Attention(2, 2, 2, rng=rng())
    layer.query.W.data[...] = np.eye(2) * 10
    layer.key.W.data[...] = np.eye(2) * 10
    regions = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])     # red, blue, background
    context, weights = layer(np.array([[[0.0, 1.0]]]), regions)      # "where is blue?"
    assert weights.data[0, 0].argmax() == 1 and weights.data[0, 0, 1] > 0.99
    assert np.allclose(context.data[0, 0], [0, 1], atol=0.01)


def test_conv2d_and_maxpool_shapes():
    x = small(2, 3, 8, 8).astype(np.float32)
    y = Conv2d(3, 5, 3, pad=1, rng=rng())(x)
    assert y.shape == (2, 5, 8, 8) and y.dtype == np.float32
    assert MaxPool2d(3, stride=2, ceil_mode=True)(y).shape == (2, 5, 4, 4)
