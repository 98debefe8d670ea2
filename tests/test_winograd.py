"""Winograd's F(2×2, 3×3) forward (nnscratch/functions/winograd.py) against the
im2col forward (nnscratch/functions/conv.py) and the plain loops of
``nnscratch.reference.conv``, and the rule that chooses it in Conv2d.forward.

Shapes: N batch, C channels, H×W input, F filters, a 3×3 kernel, stride 1.
Tolerance: the largest error relative to the largest |y|, 1e-5 in float32
(the transforms add and subtract up to 16 terms before and after the
products, in another order than im2col's sums) and 1e-12 in float64."""
import numpy as np
import pytest
import torch

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.functions import conv, winograd
from nnscratch.reference.conv import conv2d_loops

rng = np.random.default_rng(7)
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def im2col_forward(x, W, b, pad):
    """y of conv2d(x, W, b, stride=1, pad) by im2col and one product a chunk."""
    (ph, pw), (H, W_) = pad, x.shape[2:]
    out_size = (H + 2 * ph - 2, W_ + 2 * pw - 2)
    columns = conv.chunk_columns(x, (3, 3), (1, 1), pad, out_size)
    return conv.correlate(W, b, columns, x.shape[0], out_size)


def relative_error(ours, expected):
    return np.abs(ours - expected).max() / np.abs(expected).max()


def random_case(seed):
    """x (N, C, H, W), W (F, C, 3, 3), b (F,) or None, pad, dtype: N 1..3,
    C and F 1..70, H and W 1..13 (odd, and below one tile), pad 0..2."""
    case = np.random.default_rng(seed)
    dtype = (np.float32, np.float64)[seed % 2]
    while True:
        N, C, F_ = case.integers(1, 4), case.integers(1, 71), case.integers(1, 71)
        H, W_ = case.integers(1, 14, size=2)
        pad = tuple(int(p) for p in case.integers(0, 3, size=2))
        if H + 2 * pad[0] >= 3 and W_ + 2 * pad[1] >= 3:  # the kernel fits
            break
    x = case.standard_normal((N, C, H, W_)).astype(dtype)
    W = case.standard_normal((F_, C, 3, 3)).astype(dtype)
    b = case.standard_normal(F_).astype(dtype) if seed % 3 else None
    return x, W, b, pad, dtype


@pytest.mark.parametrize("seed", range(40))
def test_winograd_matches_im2col_and_loops(seed):
    x, W, b, pad, dtype = random_case(seed)
    y = winograd.correlate(x, W, b, pad)
    expected = im2col_forward(x, W, b, pad)
    assert y.shape == expected.shape and y.dtype == dtype and y.flags.c_contiguous
    assert relative_error(y, expected) <= TOLERANCE[dtype]
    assert relative_error(y, conv2d_loops(x, W, b, 1, pad)) <= TOLERANCE[dtype]


@pytest.mark.parametrize("chunk_tiles", [1, 8, 24])
def test_winograd_in_chunks(monkeypatch, chunk_tiles):
    """In chunks of one tile row of one image (1), of blocks of rows (8: an image
    of 3×4 tiles in blocks of 2 rows and 1) or of whole images (24: two, then the
    third): the same as one chunk."""
    x = rng.standard_normal((3, 4, 5, 9))
    W, b = rng.standard_normal((6, 4, 3, 3)), rng.standard_normal(6)
    expected = winograd.correlate(x, W, b, (1, 0))
    monkeypatch.setattr(winograd, "CHUNK_TILES", chunk_tiles)
    np.testing.assert_allclose(winograd.correlate(x, W, b, (1, 0)), expected, rtol=1e-12)
    assert relative_error(expected, conv2d_loops(x, W, b, 1, (1, 0))) <= 1e-12


def test_vgg_sized_layer_float32():
    """A 64 -> 64 layer at 28×28, 'same' padding, in float32: within 1e-5 of im2col."""
    x = rng.standard_normal((2, 64, 28, 28), dtype=np.float32)
    W = rng.standard_normal((64, 64, 3, 3), dtype=np.float32) / 24  # He-like scale
    b = rng.standard_normal(64, dtype=np.float32)
    assert relative_error(winograd.correlate(x, W, b, (1, 1)),
                          im2col_forward(x, W, b, (1, 1))) <= 1e-5


M = winograd.MIN_CHANNELS
RULE_CASES = [  # x shape, W shape, stride, pad, whether the rule chooses Winograd
    ((1, M, 14, 14), (M, M, 3, 3), 1, 1, True),
    ((1, M, 16, 15), (M, M, 3, 3), 1, 0, False),    # output 13 wide
    ((1, M, 16, 16), (M, M, 3, 3), 1, 0, True),     # output 14 wide
    ((1, M - 1, 14, 14), (M, M - 1, 3, 3), 1, 1, False),   # one channel too few in
    ((1, M, 14, 14), (M - 1, M, 3, 3), 1, 1, False),       # one filter too few
    ((1, 3, 32, 32), (64, 3, 3, 3), 1, 1, False),     # VGG-16's conv1_1
    ((1, M, 29, 29), (M, M, 3, 3), 2, 1, False),    # stride 2
    ((1, M, 14, 14), (M, M, 5, 5), 1, 2, False),    # 5×5
    ((1, M, 14, 14), (M, M, 1, 1), 1, 0, False),    # 1×1
]


@pytest.mark.parametrize("x_shape,W_shape,stride,pad,chosen", RULE_CASES)
def test_conv2d_takes_winograd_where_the_rule_says(monkeypatch, x_shape, W_shape, stride,
                                                   pad, chosen):
    calls, correlate = [], winograd.correlate

    def counted(*args):
        calls.append(args)
        return correlate(*args)
    monkeypatch.setattr(winograd, "correlate", counted)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    W = rng.standard_normal(W_shape, dtype=np.float32)
    b = rng.standard_normal(W_shape[0], dtype=np.float32)
    assert winograd.suits(x, W, (stride, stride), (pad, pad)) == chosen
    y = F.conv2d(x, W, b, stride=stride, pad=pad)
    assert len(calls) == int(chosen)
    assert relative_error(y.data, conv2d_loops(x, W, b, stride, pad)) <= 1e-5


def test_gradients_after_a_winograd_forward_match_torch():
    """Backward is im2col's, from x and W: the forward and the gradients are
    within float32 tolerance of torch's."""
    x = rng.standard_normal((2, M, 14, 15), dtype=np.float32)
    W = rng.standard_normal((M, M, 3, 3), dtype=np.float32) / np.float32(np.sqrt(9 * M))
    b = rng.standard_normal(M, dtype=np.float32)
    assert winograd.suits(x, W, (1, 1), (1, 1))
    ours = [Tensor(a, requires_grad=True) for a in (x, W, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, W, b)]
    y = F.conv2d(*ours, stride=1, pad=1)
    y_torch = torch.nn.functional.conv2d(*theirs, stride=1, padding=1)
    g = rng.standard_normal(y.shape, dtype=np.float32)
    y.backward(g)
    y_torch.backward(torch.from_numpy(g))
    pairs = [(y.data, y_torch)] + [(t.grad, leaf.grad) for t, leaf in zip(ours, theirs)]
    for a, expected in pairs:
        assert relative_error(a, expected.detach().numpy()) <= 1e-5
