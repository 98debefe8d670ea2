"""Convolution and max pooling written as plain loops over every output (forward only).

Straight from the definitions of §3.4 of the thesis (Fig. 3.3), one output
value at a time, as a student would: slow, and obviously right. The tests
hold the fast ``nnscratch.functional.conv2d`` and ``max_pool2d`` to these.
Shapes: x (N, C, H, W), W (F, C, KH, KW), b (F,) or None; ``stride`` and
``pad`` are ints or (rows, columns) pairs. Inputs are NumPy arrays; the
result is float64 (N, F or C, OH, OW).
"""
import math

import numpy as np


def _rows_and_columns(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def conv2d_loops(x, W, b=None, stride=1, pad=0):
    """y[n, f, i, j] = b[f] + Σ_{c, ky, kx} W[f, c, ky, kx] x̃[n, c, i·sh + ky, j·sw + kx],
    where x̃ is x with ph rows and pw columns of zeros around it."""
    (sh, sw), (ph, pw) = _rows_and_columns(stride), _rows_and_columns(pad)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    padded = np.zeros((N, C, H + 2 * ph, Wd + 2 * pw))
    padded[:, :, ph:ph + H, pw:pw + Wd] = x
    OH = (H + 2 * ph - KH) // sh + 1
    OW = (Wd + 2 * pw - KW) // sw + 1
    y = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    top, left = i * sh, j * sw
                    window = padded[n, :, top:top + KH, left:left + KW]
                    y[n, f, i, j] = np.sum(window * W[f]) + (0.0 if b is None else b[f])
    return y


def max_pool2d_loops(x, kernel, stride=None, pad=0, ceil_mode=False):
    """y[n, c, i, j] = the largest x[n, c, r, s] of the window that starts at
    row i·sh - ph and column j·sw - pw, clipped to the input (padding never wins).

    With ``ceil_mode`` the count of windows is rounded up, but a window that
    would start past the input and its top/left padding is left out.
    """
    KH, KW = _rows_and_columns(kernel)
    sh, sw = (KH, KW) if stride is None else _rows_and_columns(stride)
    ph, pw = _rows_and_columns(pad)
    N, C, H, W = x.shape
    OH = _count_windows(H, KH, sh, ph, ceil_mode)
    OW = _count_windows(W, KW, sw, pw, ceil_mode)
    y = np.zeros((N, C, OH, OW))
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    top, left = i * sh - ph, j * sw - pw
                    rows = range(max(top, 0), min(top + KH, H))
                    columns = range(max(left, 0), min(left + KW, W))
                    y[n, c, i, j] = max(x[n, c, r, s] for r in rows for s in columns)
    return y


def _count_windows(size, kernel, stride, pad, ceil_mode):
    windows = (size + 2 * pad - kernel) / stride
    count = (math.ceil(windows) if ceil_mode else math.floor(windows)) + 1
    starts_inside = (count - 1) * stride < size + pad
    return count if starts_inside else count - 1
