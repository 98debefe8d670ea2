"""The CUDA kernels of ``nnscratch/kernels`` against the NumPy path, on two devices.

- "emulated": the ``.cu`` sources compiled for the CPU (tests/cuda_emulator.py,
  needs g++), launched with blocks of 32 threads and at most 2 blocks, so
  every grid-stride loop wraps around at least once;
- "cuda": CuPy on a real GPU (marked ``gpu``; skipped without one).

Every kernel runs in float32 and float64 against the NumPy functions of
``nnscratch.functions`` in float64 (on the float32-rounded inputs): 1e-4
relative in float32, 1e-10 in float64; copies and maxima must be exact. Then
whole ops (F.conv2d, ...) run through their GPU branch, forward and backward,
and, emulated, the gradient check runs through the kernels.

Shapes: N batch, C channels, H×W image, T time, H hidden, V classes.
"""
import contextlib
import shutil

import numpy as np
import pytest

import nnscratch.functional as F
from cuda_emulator import Emulator
from nnscratch import Tensor, kernels
from nnscratch.backend import cupy, to_cpu
from nnscratch.functions import conv, recurrent
from nnscratch.functions.loss import CrossEntropy
from nnscratch.functions.pooling import MaxPool2d
from nnscratch.gradcheck import gradcheck
from nnscratch.kernels import build

DTYPES = [np.float32, np.float64]
rng = np.random.default_rng(11)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to emulate the CUDA kernels")
    return Emulator(build.FOLDER, tmp_path_factory.mktemp("cuda_emulator"))


class Device:
    """Where the kernels run: ``xp`` holds the arrays they take."""

    def __init__(self, xp, monkeypatch):
        self.xp, self.monkeypatch = xp, monkeypatch

    def array(self, a, dtype):
        return self.xp.asarray(np.asarray(a).astype(dtype))

    @contextlib.contextmanager
    def kernel_branch(self):
        """Within: the ops take their GPU branch (CuPy arrays always do; emulated,
        ``kernels.on_gpu`` is made to answer True)."""
        with self.monkeypatch.context() as patch:
            if self.xp is np:
                patch.setattr(kernels, "on_gpu", lambda array: True)
            yield


@pytest.fixture
def emulated(emulator, monkeypatch):
    """The kernels run emulated, with 32 threads a block and at most 2 blocks."""
    monkeypatch.setattr(build, "compiled", emulator.compiled)
    monkeypatch.setattr(build, "THREADS", 32)
    monkeypatch.setattr(build, "MAX_BLOCKS", 2)


@pytest.fixture(params=["emulated", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request, monkeypatch):
    if request.param == "cuda":
        return Device(cupy, monkeypatch)
    request.getfixturevalue("emulated")
    return Device(np, monkeypatch)


def rounded(shape, dtype, scale=1.0):
    """Random normal values, rounded to ``dtype``, returned in float64."""
    return (rng.standard_normal(shape) * scale).astype(dtype).astype(np.float64)


def assert_agrees(got, expected, dtype):
    """1e-4 relative in float32 (1e-10 in float64), with an absolute floor of
    the same fraction of the largest magnitude, for values near zero."""
    got, expected = to_cpu(got), np.asarray(expected)
    assert got.dtype == dtype and got.shape == expected.shape
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    floor = tolerance * max(np.abs(expected).max(initial=0.0), 1e-30)
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=floor)


# -- im2col and col2im -------------------------------------------------------

CONV_CASES = [  # x shape, kernel, stride, pad
    ((2, 3, 5, 6), (3, 3), (1, 1), (1, 1)),
    ((1, 2, 7, 6), (3, 2), (2, 1), (1, 0)),
    ((2, 2, 5, 5), (1, 1), (2, 2), (0, 0)),
    ((1, 3, 8, 9), (5, 5), (3, 2), (2, 2)),
]


def out_size(x_shape, kernel, stride, pad):
    return tuple((size + 2 * p - k) // s + 1
                 for size, k, s, p in zip(x_shape[2:], kernel, stride, pad))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,kernel,stride,pad", CONV_CASES)
def test_im2col_copies_the_windows(device, dtype, x_shape, kernel, stride, pad):
    x = rounded(x_shape, dtype)
    out = out_size(x_shape, kernel, stride, pad)
    (ph, pw) = pad
    expected = conv.im2col(conv.pad_spatial(x, ph, ph, pw, pw), kernel, stride, out).astype(dtype)
    got = kernels.im2col(device.array(x, dtype), kernel, stride, out, pad)
    np.testing.assert_array_equal(to_cpu(got), expected)
    padded = device.array(conv.pad_spatial(x, ph, ph, pw, pw), dtype)
    np.testing.assert_array_equal(to_cpu(kernels.im2col(padded, kernel, stride, out)), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,kernel,stride,pad", CONV_CASES)
def test_col2im_is_the_adjoint(device, dtype, x_shape, kernel, stride, pad):
    (N, C, H, W), (KH, KW), (ph, pw) = x_shape, kernel, pad
    out = out_size(x_shape, kernel, stride, pad)
    cols = rounded((C * KH * KW, N * out[0] * out[1]), dtype)
    padded_shape = (N, C, H + 2 * ph, W + 2 * pw)
    expected = conv.col2im(cols, padded_shape, kernel, stride, out)
    got = kernels.col2im(device.array(cols, dtype), x_shape, kernel, stride, out, pad)
    assert_agrees(got, expected[:, :, ph:ph + H, pw:pw + W], dtype)
    got = kernels.col2im(device.array(cols, dtype), padded_shape, kernel, stride, out)
    assert_agrees(got, expected, dtype)


# -- max pooling -------------------------------------------------------------

POOL_CASES = [  # x shape, kernel, stride, pad, ceil_mode
    ((2, 3, 4, 6), 2, None, 0, False),
    ((1, 2, 7, 7), 3, 2, 0, False),
    ((1, 2, 6, 6), 3, 2, 0, True),
    ((1, 2, 5, 8), 3, 2, 1, True),
    ((2, 1, 4, 5), (2, 3), (1, 2), (1, 1), False),
]


def distinct(shape):
    """Values 1/size apart in random order: no ties."""
    size = int(np.prod(shape))
    return rng.permutation(size).reshape(shape) / size


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,kernel,stride,pad,ceil_mode", POOL_CASES)
def test_max_pool_forward_and_backward(device, dtype, x_shape, kernel, stride, pad, ceil_mode):
    x = distinct(x_shape).astype(dtype).astype(np.float64)
    pool = MaxPool2d(kernel, stride, pad, ceil_mode)
    y = pool(Tensor(x, requires_grad=True)).data
    gy = rounded(y.shape, dtype)
    gx = pool.backward(gy)
    got_y, got_argmax = kernels.max_pool_forward(device.array(x, dtype), pool.kernel, pool.stride,
                                                 pool.pad, pool.out_size)
    np.testing.assert_array_equal(to_cpu(got_y), y.astype(dtype))
    np.testing.assert_array_equal(to_cpu(got_argmax), pool.argmax)
    got_gx = kernels.max_pool_backward(device.array(gy, dtype), got_argmax, x_shape, pool.kernel,
                                       pool.stride, pool.pad)
    assert_agrees(got_gx, gx, dtype)


def test_max_pool_ties_go_to_the_first_cell(device):
    """On equal values the first cell of the window wins, as on the NumPy path."""
    pool = MaxPool2d(3, 2, 1)
    x = np.zeros((1, 2, 5, 5))
    pool(Tensor(x, requires_grad=True))
    _, argmax = kernels.max_pool_forward(device.array(x, np.float32), pool.kernel, pool.stride,
                                         pool.pad, pool.out_size)
    np.testing.assert_array_equal(to_cpu(argmax), pool.argmax)


# -- the LSTM cell -------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell_forward_and_backward(device, dtype):
    N, H = 5, 17  # N·H = 85 units: more than the emulated grid's 64 threads
    proj, h, c = rounded((N, 4 * H), dtype, 2.0), rounded((N, H), dtype), rounded((N, H), dtype)
    Wh = rounded((H, 4 * H), dtype, 0.3)
    hWh = (h.astype(dtype) @ Wh.astype(dtype)).astype(np.float64)
    expected = recurrent.lstm_cell_forward(proj, h, c, Wh)
    got = kernels.lstm_cell_forward(device.array(proj, dtype), device.array(hWh, dtype),
                                    device.array(c, dtype))
    for ours, theirs in zip(got, expected):  # h', c', gates, tanh(c')
        assert_agrees(ours, theirs, dtype)
    _, _, gates, tanh_c = (a.astype(dtype).astype(np.float64) for a in expected)
    gh, gc = rounded((N, H), dtype), rounded((N, H), dtype)
    g_proj, _, gc_prev, _ = recurrent.lstm_cell_backward(gh, gc, h, c, gates, tanh_c, Wh)
    got = kernels.lstm_gates_backward(*(device.array(a, dtype)
                                        for a in (gh, gc, c, gates, tanh_c)))
    assert_agrees(got[0], g_proj, dtype)
    assert_agrees(got[1], gc_prev, dtype)


# -- softmax cross-entropy -------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("V,scale", [(7, 1.0), (300, 1.0), (40, 300.0)])
def test_softmax_cross_entropy(device, dtype, V, scale):
    """The loss and its gradient, with a mask; ``scale`` 300 makes exp overflow unless shifted."""
    logits = rounded((3, 4, V), dtype, scale)
    targets = rng.integers(0, V, (3, 4))
    mask = np.ones((3, 4))
    mask[0, 2:] = mask[2, 1:] = 0
    loss_function = CrossEntropy(targets, mask)
    loss = loss_function(Tensor(logits, requires_grad=True)).data
    g_logits = loss_function.backward(np.float64(0.7))
    weight = device.array(mask, dtype)
    terms, log_z = kernels.softmax_cross_entropy_forward(device.array(logits, dtype),
                                                         device.xp.asarray(targets), weight)
    assert_agrees(terms.sum() / weight.sum(), loss, dtype)
    scale_array = device.array(0.7 / mask.sum(), dtype)
    got = kernels.softmax_cross_entropy_backward(device.array(logits, dtype), log_z,
                                                 device.xp.asarray(targets), weight, scale_array)
    assert_agrees(got, g_logits, dtype)


# -- dropout and ReLU ------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_keeps_units_with_uniform_at_least_p(device, dtype):
    p = 0.3
    x = rounded((7, 13), dtype)
    uniform = rng.random((7, 13))
    uniform[0, :3] = p, np.nextafter(p, 0), np.nextafter(p, 1)  # kept, dropped, kept
    mask = (uniform >= p).astype(dtype) / dtype(1 - p)
    y, got_mask = kernels.dropout(device.array(x, dtype), device.xp.asarray(uniform), p)
    np.testing.assert_array_equal(to_cpu(got_mask), mask)
    np.testing.assert_array_equal(to_cpu(y), x.astype(dtype) * mask)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_output_and_mask(device, dtype):
    x = np.concatenate([rounded(90, dtype), [0.0, -0.0, np.nan, np.inf]]).astype(dtype)
    y, mask = kernels.relu(device.xp.asarray(x))
    np.testing.assert_array_equal(to_cpu(mask), x > 0)
    np.testing.assert_array_equal(to_cpu(y), x * (x > 0))


def test_other_dtypes_are_refused():
    with pytest.raises(ValueError, match=r"relu: the CUDA kernel \(relu.cu\) takes float32 or "
                                         r"float64 arrays, got float16"):
        build.compiled("relu.cu", "relu_forward", np.float16, "relu")


# -- whole ops through their GPU branch ------------------------------------------

def lstm_sequence(x, h0, c0, Wx, Wh, b):
    return F.lstm(x, h0, c0, Wx, Wh, b)


TARGETS = rng.integers(0, 5, (2, 3))
MASK = np.array([[1, 1, 0], [1, 1, 1]])

OP_CASES = {  # name: (function of Tensors, input shapes)
    "conv2d 3x3 pad 1": (lambda x, W, b: F.conv2d(x, W, b, stride=1, pad=1),
                         [(1, 3, 4, 5), (2, 3, 3, 3), (2,)]),
    "conv2d stride 2": (lambda x, W, b: F.conv2d(x, W, b, stride=2, pad=1),
                        [(1, 2, 7, 6), (3, 2, 3, 3), (3,)]),
    "max_pool2d ceil": (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(1, 2, 5, 8)]),
    "lstm": (lstm_sequence, [(2, 3, 2), (2, 3), (2, 3), (2, 12), (3, 12), (12,)]),
    "cross_entropy": (lambda logits: F.cross_entropy(logits, TARGETS, MASK), [(2, 3, 5)]),
    "relu": (F.relu, [(4, 7)]),
    "dropout": (lambda x: F.dropout(x, 0.4, True, rng=np.random.default_rng(5)), [(4, 7)]),
}


def op_input(name, shape):
    """Random normal values; for max pooling, distinct ones (no ties to break)."""
    return distinct(shape) if name.startswith("max_pool") else rng.standard_normal(shape)


def forward_backward(function, arrays, g_output):
    """y and the gradient of every input, as NumPy arrays."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    y = function(*tensors)
    y.backward(g_output)
    return [y.numpy()] + [to_cpu(t.grad) for t in tensors]


@pytest.mark.parametrize("name", OP_CASES)
def test_ops_through_the_kernels(device, name):
    """Float32 on the kernel branch against float64 on the NumPy path, forward and backward."""
    function, shapes = OP_CASES[name]
    inputs = [op_input(name, s).astype(np.float32).astype(np.float64) for s in shapes]
    expected_y = function(*inputs).data
    g_output = rounded(expected_y.shape, np.float32)
    expected = forward_backward(function, inputs, g_output)
    with device.kernel_branch():
        got = forward_backward(function, [device.array(a, np.float32) for a in inputs],
                               device.array(g_output, np.float32))
    for ours, theirs in zip(got, expected):
        assert_agrees(ours, theirs, np.float32)


@pytest.mark.parametrize("name", OP_CASES)
def test_gradcheck_through_emulated_kernels(emulated, monkeypatch, name):
    """Central differences (float64) against the backward of the kernel branch."""
    monkeypatch.setattr(kernels, "on_gpu", lambda array: True)
    function, shapes = OP_CASES[name]
    assert gradcheck(function, [op_input(name, s) for s in shapes])
