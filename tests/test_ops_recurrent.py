"""Embedding, the RNN of eq. 3.5 and the LSTM (thesis §3.5), step and sequence:
forward against the plain loops of ``nnscratch.reference.recurrent``,
gradients against central differences and PyTorch, errors by name.

Shapes: N batch, T steps, D input, H hidden, V vocabulary."""
import numpy as np
import pytest

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.backend import to_cpu
from nnscratch.gradcheck import gradcheck
from nnscratch.reference.recurrent import lstm_loops, rnn_loops

rng = np.random.default_rng(2)
N, T, D, H = 2, 3, 4, 3


def randn(*shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def rnn_inputs(relu=False):
    """x, h0, Wx, Wh, b; for ReLU, a drawing whose pre-activations all keep
    |a| > 0.05 (no gradcheck step crosses the kink) and are of both signs."""
    while True:
        x, h0, Wx, Wh, b = randn(N, T, D), randn(N, H), randn(D, H), randn(H, H, scale=0.5), randn(H)
        if not relu or _relu_pre_activations_are_safe(x, h0, Wx, Wh, b):
            return [x, h0, Wx, Wh, b]


def _relu_pre_activations_are_safe(x, h0, Wx, Wh, b):
    h, pre = h0, []
    for t in range(x.shape[1]):
        pre.append(x[:, t] @ Wx + h @ Wh + b)
        h = np.maximum(pre[-1], 0)
    pre = np.array(pre)
    return np.abs(pre).min() > 0.05 and (pre > 0).any() and (pre < 0).any()


def lstm_inputs():
    """x, h0, c0, Wx (D, 4H), Wh (H, 4H), b (4H,)."""
    return [randn(N, T, D), randn(N, H), randn(N, H), randn(D, 4 * H), randn(H, 4 * H, scale=0.5), randn(4 * H)]


IDS = np.array([[0, 3, 0], [3, 3, 1]])  # ids 0 and 3 repeat: their rows add up
RNN_TANH, RNN_RELU, LSTM_INPUTS = rnn_inputs(), rnn_inputs(relu=True), lstm_inputs()


def step_inputs(inputs, states):
    """The first time step of sequence inputs: x[:, 0] and ``states`` initial states."""
    return [inputs[0][:, 0]] + inputs[1:1 + states] + inputs[1 + states:]


GRADCHECK_CASES = {
    "embedding": [(lambda W: F.embedding(IDS, W), [randn(5, 4)]),
                  (F.embedding, [np.array([2, 2, 0, 2]), randn(3, 2)])],
    "rnn_step": [(F.rnn_step, step_inputs(RNN_TANH, 1)),
                 (lambda *a: F.rnn_step(*a, activation="relu"), step_inputs(RNN_RELU, 1)),
                 (lambda x, Wx, Wh, b: F.rnn_step(x, None, Wx, Wh, b), [RNN_TANH[0][:, 1]] + RNN_TANH[2:])],
    "lstm_step": [(F.lstm_step, step_inputs(LSTM_INPUTS, 2))],
    "rnn": [(F.rnn, RNN_TANH),
            (lambda *a: F.rnn(*a, activation="relu"), RNN_RELU),
            (lambda x, Wx, Wh, b: F.rnn(x, None, Wx, Wh, b), RNN_TANH[:1] + RNN_TANH[2:])],
    "lstm": [(F.lstm, LSTM_INPUTS),
             (lambda x, Wx, Wh, b: F.lstm(x, None, None, Wx, Wh, b), LSTM_INPUTS[:1] + LSTM_INPUTS[3:])],
}


def test_a_small_captioner_gradient_checks_end_to_end():
    """linear -> lstm -> linear -> cross_entropy with a mask, float64: every gradient at once."""
    D_in, V = 3, 5
    targets = rng.integers(0, V, (N, T))
    mask = np.array([[1, 1, 0], [1, 0, 0]])

    def model(x, W_in, b_in, Wx, Wh, b, W_out, b_out):
        e = F.linear(F.reshape(x, (N * T, D_in)), W_in, b_in)
        h = F.lstm(F.reshape(e, (N, T, D)), None, None, Wx, Wh, b)
        logits = F.linear(F.reshape(h, (N * T, H)), W_out, b_out)
        return F.cross_entropy(F.reshape(logits, (N, T, V)), targets, mask)

    inputs = [randn(N, T, D_in), randn(D_in, D), randn(D)] + LSTM_INPUTS[3:] + [randn(H, V), randn(V)]
    assert gradcheck(model, inputs)


# -- fast ops against the loops ------------------------------------------------

@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_rnn_matches_the_loops(xp, activation):
    x, h0, Wx, Wh, b = RNN_TANH
    h = F.rnn(*[xp.asarray(a) for a in (x, h0, Wx, Wh, b)], activation=activation)
    np.testing.assert_allclose(to_cpu(h.data), rnn_loops(x, h0, Wx, Wh, b, activation), rtol=1e-12, atol=1e-12)
    h = F.rnn(xp.asarray(x), None, *[xp.asarray(a) for a in (Wx, Wh, b)], activation=activation)
    np.testing.assert_allclose(to_cpu(h.data), rnn_loops(x, None, Wx, Wh, b, activation), rtol=1e-12, atol=1e-12)


def test_lstm_matches_the_loops(xp):
    x, h0, c0, Wx, Wh, b = LSTM_INPUTS
    h = F.lstm(*[xp.asarray(a) for a in LSTM_INPUTS])
    np.testing.assert_allclose(to_cpu(h.data), lstm_loops(x, h0, c0, Wx, Wh, b), rtol=1e-12, atol=1e-12)
    h = F.lstm(xp.asarray(x), None, None, *[xp.asarray(a) for a in (Wx, Wh, b)])
    np.testing.assert_allclose(to_cpu(h.data), lstm_loops(x, None, None, Wx, Wh, b), rtol=1e-12, atol=1e-12)


def test_float32_in_float32_out(xp):
    x, h0, c0, Wx, Wh, b = [xp.asarray(a, dtype=np.float32) for a in LSTM_INPUTS]
    assert F.lstm(x, h0, c0, Wx, Wh, b).dtype == np.float32
    assert F.rnn(x, None, Wx[:, :H], Wh[:, :H], b[:H], activation="relu").dtype == np.float32
    assert all(y.dtype == np.float32 for y in F.lstm_step(x[:, 0], None, None, Wx, Wh, b))


def _unrolled(step, states, x, weights):
    """Run ``step`` over the T steps of x, carrying ``states``; stack the h's."""
    hs = []
    for t in range(x.shape[1]):
        out = step(x[:, t], *states, *weights)
        states = out if isinstance(out, tuple) else (out,)
        hs.append(F.reshape(states[0], (x.shape[0], 1, -1)))
    return F.concat(hs, axis=1)


@pytest.mark.parametrize("op,inputs", [("rnn", RNN_TANH), ("lstm", LSTM_INPUTS)])
def test_steps_unrolled_agree_with_the_sequence_op(xp, op, inputs):
    """The step and sequence functions share the cell: same states, same gradients."""
    states = 1 if op == "rnn" else 2
    grad = randn(N, T, H)
    results = []
    for run in ("sequence", "steps"):
        tensors = [Tensor(xp.asarray(a), requires_grad=True) for a in inputs]
        x, initial, weights = tensors[0], tensors[1:1 + states], tensors[1 + states:]
        if run == "sequence":
            h = getattr(F, op)(*tensors)
        else:
            h = _unrolled(getattr(F, f"{op}_step"), initial, x, weights)
        h.backward(xp.asarray(grad))
        results.append([to_cpu(h.data)] + [to_cpu(t.grad) for t in tensors])
    for ours, unrolled in zip(*results):
        np.testing.assert_allclose(ours, unrolled, rtol=1e-12, atol=1e-12)


def test_embedding_picks_rows_and_adds_the_gradients_of_repeated_ids(xp):
    W = randn(5, 4)
    Wt = Tensor(xp.asarray(W), requires_grad=True)
    y = F.embedding(xp.asarray(IDS), Wt)
    np.testing.assert_array_equal(to_cpu(y.data), W[IDS])
    grad = randn(*IDS.shape, 4)
    y.backward(xp.asarray(grad))
    expected = np.zeros_like(W)
    for n in range(IDS.shape[0]):
        for t in range(IDS.shape[1]):
            expected[IDS[n, t]] += grad[n, t]
    np.testing.assert_allclose(to_cpu(Wt.grad), expected, rtol=1e-12)
    assert np.abs(expected[3]).sum() > 0 and not expected[2].any()  # id 3 used thrice, id 2 never


# -- parity with PyTorch 2.13 (float32) -------------------------------------------

def assert_close(ours, theirs):
    """Float32 agreement to 1e-5 relative (1e-5 of the largest entry for entries near 0)."""
    theirs = theirs.detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * np.abs(theirs).max())


def _compare_with_torch(ours_fn, torch_fn, inputs):
    """Run both on the same float32 inputs and upstream gradient; compare output and every grad."""
    torch = pytest.importorskip("torch")
    inputs = [a.astype(np.float32) for a in inputs]
    ours = [Tensor(a, requires_grad=True) for a in inputs]
    theirs = [torch.tensor(a, requires_grad=True) for a in inputs]
    y, expected = ours_fn(*ours), torch_fn(*theirs)
    grad = randn(*expected.shape).astype(np.float32)
    y.backward(grad)
    (expected * torch.tensor(grad)).sum().backward()
    assert_close(y.data, expected)
    for o, t in zip(ours, theirs):
        assert_close(o.grad, t.grad)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_rnn_matches_torch(activation):
    torch = pytest.importorskip("torch")
    module = torch.nn.RNN(D, H, nonlinearity=activation, batch_first=True)

    def torch_rnn(x, h0, Wx, Wh, b):  # torch keeps W_ih (H, D) = Wxᵀ, and two biases
        params = {"weight_ih_l0": Wx.T, "weight_hh_l0": Wh.T, "bias_ih_l0": b, "bias_hh_l0": torch.zeros(H)}
        return torch.func.functional_call(module, params, (x, h0[None]))[0]

    _compare_with_torch(lambda *a: F.rnn(*a, activation=activation), torch_rnn, rnn_inputs())


def test_lstm_matches_torch():
    torch = pytest.importorskip("torch")
    module = torch.nn.LSTM(D, H, batch_first=True)
    # Our gate columns are i, f, o, g; torch's rows are i, f, g, o.
    to_torch_order = np.concatenate([np.arange(0, 2 * H), np.arange(3 * H, 4 * H), np.arange(2 * H, 3 * H)])

    def torch_lstm(x, h0, c0, Wx, Wh, b):
        params = {"weight_ih_l0": Wx[:, to_torch_order].T, "weight_hh_l0": Wh[:, to_torch_order].T,
                  "bias_ih_l0": b[to_torch_order], "bias_hh_l0": torch.zeros(4 * H)}
        return torch.func.functional_call(module, params, (x, (h0[None], c0[None])))[0]

    _compare_with_torch(F.lstm, torch_lstm, lstm_inputs())


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    _compare_with_torch(lambda W: F.embedding(IDS, W),
                        lambda W: torch.nn.functional.embedding(torch.tensor(IDS), W), [randn(5, 4)])


# -- errors -----------------------------------------------------------------------

def test_embedding_errors():
    with pytest.raises(ValueError, match=r"embedding: id 5 is out of range \[0, 5\).*V = 5"):
        F.embedding(np.array([[1, 5]]), randn(5, 2))
    with pytest.raises(ValueError, match=r"embedding: id -2 is out of range"):
        F.embedding(np.array([-2]), randn(5, 2))
    with pytest.raises(ValueError, match="embedding: ids must be integers"):
        F.embedding(np.array([0.0]), randn(5, 2))
    with pytest.raises(ValueError, match=r"embedding: weight must be \(V, D\), got shape \(5,\)"):
        F.embedding(np.array([0]), randn(5))


def test_recurrent_shape_errors_name_the_op_and_the_shapes():
    x, h0, Wx, Wh, b = RNN_TANH
    with pytest.raises(ValueError, match=r"rnn: shapes do not fit: x \(2, 3, 4\), h0 \(2, 3\), "
                                         r"Wx \(5, 3\).*need x \(N, T, D\)"):
        F.rnn(x, h0, randn(5, H), Wh, b)
    with pytest.raises(ValueError, match=r"rnn: .*x \(2, 4\).*need x \(N, T, D\)"):
        F.rnn(x[:, 0], h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn_step: .*h \(1, 3\)"):
        F.rnn_step(x[:, 0], h0[:1], Wx, Wh, b)
    x, h0, c0, Wx, Wh, b = LSTM_INPUTS
    with pytest.raises(ValueError, match=r"lstm: .*Wx \(4, 9\).*Wx \(D, 4H\), Wh \(H, 4H\), b \(4H,\)"):
        F.lstm(x, h0, c0, Wx[:, :3 * H], Wh, b)
    with pytest.raises(ValueError, match=r"lstm_step: .*c \(2, 2\)"):
        F.lstm_step(x[:, 0], h0, c0[:, :2], Wx, Wh, b)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match=r"rnn: activation must be one of \('tanh', 'relu'\), got 'sigmoid'"):
        F.rnn(*RNN_TANH, activation="sigmoid")
    with pytest.raises(ValueError, match="rnn_step: activation"):
        F.rnn_step(*step_inputs(RNN_TANH, 1), activation="ReLU")
