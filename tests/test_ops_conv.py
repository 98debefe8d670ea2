"""Convolution and pooling (thesis §3.4): forward against the plain loops of
``nnscratch.reference.conv``, gradients against central differences and
against PyTorch (forward and backward, float32), errors by name.

Shapes: N batch, C channels, H×W input, F filters, KH×KW kernel."""
import numpy as np
import pytest
import torch

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.backend import to_cpu
from nnscratch.functions.conv import Conv2d
from nnscratch.gradcheck import gradcheck
from nnscratch.reference.conv import conv2d_loops, max_pool2d_loops

rng = np.random.default_rng(3)


def randn(*shape):
    return rng.standard_normal(shape)


def distinct(*shape):
    """Values 1/size apart, in random order: no window has a tie, and no
    gradcheck step (1e-6) can change which value wins."""
    size = int(np.prod(shape))
    return rng.permutation(size).reshape(shape) / size


def assert_close(ours, theirs):
    """rtol 1e-5, with an atol of 1e-6 of the largest magnitude for values near zero."""
    theirs = np.asarray(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * np.abs(theirs).max())


def conv(stride, pad):
    return lambda x, W, b=None: F.conv2d(x, W, b, stride=stride, pad=pad)


def max_pool(kernel, stride=None, pad=0, ceil_mode=False):
    return lambda x: F.max_pool2d(x, kernel, stride, pad, ceil_mode)


def avg_pool(kernel, stride=None):
    return lambda x: F.avg_pool2d(x, kernel, stride)


GRADCHECK_CASES = {
    "conv2d": [
        (conv(1, 1), [randn(2, 3, 5, 6), randn(4, 3, 3, 3), randn(4)]),       # 3x3 "same"
        (conv(1, 1), [randn(2, 1, 4, 5), randn(3, 1, 3, 3), randn(3)]),       # F > 2C: col2im
        (conv(1, (2, 0)), [randn(1, 2, 3, 4), randn(2, 2, 2, 2)]),            # pad >= kernel
        (conv(2, 1), [randn(2, 2, 7, 6), randn(3, 2, 3, 3), randn(3)]),       # 3x3 stride 2
        (conv(1, 0), [randn(2, 4, 3, 5), randn(3, 4, 1, 1), randn(3)]),       # 1x1: no im2col
        (conv((2, 1), (0, 1)), [randn(1, 2, 5, 6), randn(2, 2, 2, 3)]),       # no bias, pairs
        (conv(3, 2), [randn(1, 2, 7, 8), randn(2, 2, 5, 5), randn(2)]),
    ],
    "max_pool2d": [
        (max_pool(2), [distinct(2, 3, 4, 6)]),                                # tiles: fast path
        (max_pool(3, 2), [distinct(1, 2, 7, 7)]),                             # overlapping
        (max_pool(3, 2, ceil_mode=True), [distinct(1, 2, 6, 6)]),             # last window clipped
        (max_pool(3, 2, pad=1, ceil_mode=True), [distinct(1, 2, 5, 8)]),
        (max_pool((2, 3), (1, 2), pad=(1, 1)), [distinct(2, 1, 4, 5)]),
    ],
    "avg_pool2d": [
        (avg_pool(2), [randn(2, 3, 4, 6)]),
        (avg_pool(3, 2), [randn(1, 2, 7, 6)]),
        (avg_pool((2, 3), (1, 2)), [randn(2, 1, 4, 7)]),                      # last column unused
    ],
    "global_avg_pool2d": [(F.global_avg_pool2d, [randn(2, 3, 4, 5)])],
}


# -- forward: fast against the loops ------------------------------------------

CONV_SHAPES = [  # x shape, W shape, stride, pad
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1),
    ((2, 3, 9, 7), (4, 3, 3, 3), 2, 1),
    ((2, 5, 4, 6), (3, 5, 1, 1), 1, 0),
    ((2, 5, 7, 7), (3, 5, 1, 1), 2, 0),
    ((1, 2, 9, 10), (3, 2, 4, 2), (2, 3), (1, 0)),
    ((1, 3, 11, 11), (2, 3, 7, 7), 2, 3),
]


@pytest.mark.parametrize("x_shape,W_shape,stride,pad", CONV_SHAPES)
def test_conv2d_matches_loops(xp, x_shape, W_shape, stride, pad):
    x, W, b = (randn(*x_shape).astype(np.float32), randn(*W_shape).astype(np.float32),
               randn(W_shape[0]).astype(np.float32))
    y = F.conv2d(xp.asarray(x), xp.asarray(W), xp.asarray(b), stride=stride, pad=pad)
    assert y.dtype == np.float32
    assert_close(to_cpu(y.data), conv2d_loops(x, W, b, stride, pad))
    y = F.conv2d(xp.asarray(x), xp.asarray(W), stride=stride, pad=pad)
    assert_close(to_cpu(y.data), conv2d_loops(x, W, None, stride, pad))


@pytest.mark.parametrize("chunk_bytes", [1, 9000])
def test_conv2d_in_chunks_of_the_batch(monkeypatch, chunk_bytes):
    """In chunks of one row of one image (chunk_bytes 1; several chunks per image)
    or of whole images (9000: two, then the third alone), the forward still
    matches the loops and the gradients still pass the check, through col2im
    (stride 2) and through the turned kernel (stride 1), whose columns give ∂L/∂W too."""
    monkeypatch.setattr("nnscratch.functions.conv.CHUNK_BYTES", chunk_bytes)
    x, W, b = randn(3, 2, 6, 5), randn(4, 2, 3, 3), randn(4)
    assert_close(F.conv2d(x, W, b, stride=1, pad=1).data, conv2d_loops(x, W, b, 1, 1))
    assert gradcheck(conv(2, 1), [x, W, b])
    assert gradcheck(conv(1, 1), [x, W, b])
    assert gradcheck(conv(1, 0), [x, W[:, :, :2], b])


def test_max_pool2d_in_blocks_of_planes(monkeypatch):
    """One plane (n, c) per block: the forward still matches the loops and the gradient the check."""
    monkeypatch.setattr("nnscratch.functions.pooling.BLOCK_BYTES", 1)
    x = distinct(2, 3, 7, 7)
    np.testing.assert_array_equal(F.max_pool2d(x, 3, 2, 1, True).data,
                                  max_pool2d_loops(x, 3, 2, 1, True))
    assert gradcheck(max_pool(3, 2, pad=1, ceil_mode=True), [x])
    assert gradcheck(max_pool(2), [x[:, :, :6, :6]])


POOL_SETTINGS = [  # x shape, kernel, stride, pad, ceil_mode
    ((2, 3, 8, 6), 2, None, 0, False),
    ((1, 2, 7, 7), 3, 2, 0, False),
    ((1, 2, 6, 6), 3, 2, 0, True),
    ((1, 2, 13, 13), 3, 2, 0, True),     # SqueezeNet's 3x3/2 pools, 13 -> 6
    ((1, 2, 5, 8), 3, 2, 1, True),
    ((2, 1, 4, 5), (2, 3), (1, 2), (1, 1), False),
    ((1, 1, 5, 5), 2, 2, 1, True),       # a last window that would start in the padding: dropped
]


@pytest.mark.parametrize("x_shape,kernel,stride,pad,ceil_mode", POOL_SETTINGS)
def test_max_pool2d_matches_loops(xp, x_shape, kernel, stride, pad, ceil_mode):
    x = randn(*x_shape).astype(np.float32)
    y = F.max_pool2d(xp.asarray(x), kernel, stride, pad, ceil_mode)
    assert y.dtype == np.float32
    expected = max_pool2d_loops(x, kernel, stride, pad, ceil_mode)
    np.testing.assert_array_equal(to_cpu(y.data), expected)


@pytest.mark.parametrize("size,kernel,stride", [(4, 2, 2), (7, 3, 2)])
def test_max_pool2d_ties_have_one_winner(xp, size, kernel, stride):
    """All inputs equal: each window sends its whole gradient to one input."""
    x = Tensor(xp.zeros((1, 1, size, size)), requires_grad=True)
    y = F.max_pool2d(x, kernel, stride)
    y.backward(xp.ones(y.shape))
    gx = to_cpu(x.grad)
    assert y.size == (4 if kernel == 2 else 9) and gx.sum() == y.size
    assert np.count_nonzero(gx) == y.size


def test_avg_and_global_pool_match_numpy(xp):
    x = randn(2, 3, 6, 7)
    y = F.avg_pool2d(xp.asarray(x), 2, (2, 3))
    expected = np.array([[[[x[n, c, 2 * i:2 * i + 2, 3 * j:3 * j + 2].mean() for j in range(2)]
                           for i in range(3)] for c in range(3)] for n in range(2)])
    np.testing.assert_allclose(to_cpu(y.data), expected, rtol=1e-12)
    g = F.global_avg_pool2d(xp.asarray(x))
    assert g.shape == (2, 3)
    np.testing.assert_allclose(to_cpu(g.data), x.mean(axis=(2, 3)), rtol=1e-12)


# -- forward and gradients against PyTorch, float32 ---------------------------

def ours_and_torch(xp, ours, theirs, inputs):
    """Run both on float32 copies of ``inputs`` with one random upstream
    gradient; return [(our output, torch's), (our ∂x, torch's), ...]."""
    inputs = [a.astype(np.float32) for a in inputs]
    tensors = [Tensor(xp.asarray(a), requires_grad=True) for a in inputs]
    leaves = [torch.tensor(a, requires_grad=True) for a in inputs]
    y, y_torch = ours(*tensors), theirs(*leaves)
    g = randn(*y.shape).astype(np.float32)
    y.backward(xp.asarray(g))
    y_torch.backward(torch.from_numpy(g))
    pairs = [(y.data, y_torch)] + [(t.grad, leaf.grad) for t, leaf in zip(tensors, leaves)]
    return [(to_cpu(a), b.detach().numpy()) for a, b in pairs]


@pytest.mark.parametrize("x_shape,W_shape,stride,pad", CONV_SHAPES + [
    ((2, 16, 14, 14), (32, 16, 3, 3), 1, 1),    # a VGG block, small
    ((2, 8, 15, 15), (16, 8, 3, 3), 2, 0),      # SqueezeNet's conv1 kind
])
def test_conv2d_matches_torch(xp, x_shape, W_shape, stride, pad):
    inputs = [randn(*x_shape), randn(*W_shape), randn(W_shape[0])]
    def torch_conv(x, W, b):
        return torch.nn.functional.conv2d(x, W, b, stride=stride, padding=pad)
    for ours, theirs in ours_and_torch(xp, conv(stride, pad), torch_conv, inputs):
        assert ours.dtype == np.float32
        assert_close(ours, theirs)


@pytest.mark.parametrize("x_shape,kernel,stride,pad,ceil_mode", POOL_SETTINGS)
def test_max_pool2d_matches_torch(xp, x_shape, kernel, stride, pad, ceil_mode):
    def torch_pool(x):
        return torch.nn.functional.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil_mode)
    for ours, theirs in ours_and_torch(xp, max_pool(kernel, stride, pad, ceil_mode), torch_pool,
                                       [distinct(*x_shape)]):
        assert_close(ours, theirs)


@pytest.mark.parametrize("x_shape,kernel,stride", [
    ((2, 3, 8, 6), 2, None), ((1, 2, 7, 6), 3, 2), ((2, 1, 4, 7), (2, 3), (1, 2))])
def test_avg_pool2d_matches_torch(xp, x_shape, kernel, stride):
    def torch_pool(x):
        return torch.nn.functional.avg_pool2d(x, kernel, stride)
    for ours, theirs in ours_and_torch(xp, avg_pool(kernel, stride), torch_pool, [randn(*x_shape)]):
        assert_close(ours, theirs)


def test_global_avg_pool2d_matches_torch(xp):
    def torch_pool(x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
    for ours, theirs in ours_and_torch(xp, F.global_avg_pool2d, torch_pool, [randn(2, 3, 5, 4)]):
        assert_close(ours, theirs)


# -- only the gradients asked for ----------------------------------------------

def test_conv2d_computes_only_the_gradients_needed():
    x, W = randn(2, 3, 5, 5), randn(4, 3, 3, 3)
    frozen = Conv2d(stride=1, pad=1)
    xt = Tensor(x, requires_grad=True)
    y = frozen(xt, W)
    assert not hasattr(frozen, "cols")  # no columns are kept: backward rebuilds them
    y.backward(np.ones(y.shape))
    assert xt.grad.shape == x.shape
    gx, gW = frozen.backward(np.ones(y.shape))
    assert gW is None and gx.shape == x.shape
    trained = Conv2d(stride=1, pad=1)
    y = trained(x, Tensor(W, requires_grad=True), Tensor(np.zeros(4), requires_grad=False))
    gx, gW, gb = trained.backward(np.ones(y.shape))
    assert gx is None and gb is None and gW.shape == W.shape


# -- errors name the op and the shapes ------------------------------------------

X8, W3 = randn(1, 3, 8, 8), randn(4, 3, 3, 3)


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(X8, randn(4, 64, 3, 3)), "conv2d: input has 3 channels, weight expects 64"),
    (lambda: F.conv2d(X8[0], W3), r"conv2d: input must be \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (lambda: F.conv2d(X8, W3[0]), r"conv2d: weight must be \(F, C, KH, KW\)"),
    (lambda: F.conv2d(X8[:, :, :4, :4], randn(4, 3, 5, 5)),
     "conv2d: kernel 5x5 is larger than the padded input 4x4"),
    (lambda: F.conv2d(X8, W3, randn(3)), r"conv2d: bias has shape \(3,\)"),
    (lambda: F.conv2d(X8, W3, stride=0), "conv2d: stride must be >= 1"),
    (lambda: F.conv2d(X8, W3, pad=(1, 2, 3)), "conv2d: pad must be an int or a pair"),
    (lambda: F.conv2d(X8, W3, stride=1.5), "conv2d: stride must be an int or a pair"),
    (lambda: F.max_pool2d(X8[0], 2), r"max_pool2d: input must be \(N, C, H, W\)"),
    (lambda: F.max_pool2d(X8[:, :, :2], 3), "max_pool2d: kernel 3x3 is larger than the padded input 2x8"),
    (lambda: F.max_pool2d(X8, 3, pad=2), r"max_pool2d: pad \(2, 2\) must be at most half the kernel"),
    (lambda: F.avg_pool2d(X8[:, :, :, :2], 3), "avg_pool2d: kernel 3x3 is larger than the padded input 8x2"),
    (lambda: F.avg_pool2d(X8, 2, stride=0), "avg_pool2d: kernel and stride must be >= 1"),
    (lambda: F.global_avg_pool2d(randn(2, 3)), r"global_avg_pool2d: input must be \(N, C, H, W\)"),
])
def test_errors_name_the_op_and_shapes(call, message):
    with pytest.raises(ValueError, match=message):
        call()
