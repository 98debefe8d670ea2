"""Two-dimensional convolution (thesis §3.4, Fig. 3.3), as one matrix product.

Shapes: N batch, C input channels, H×W input size, F filters (output
channels), KH×KW kernel size, (sh, sw) stride, (ph, pw) zero padding,
OH×OW output size with OH = (H + 2ph - KH) // sh + 1 (likewise OW).

    y[n, f, i, j] = b[f] + Σ_{c, ky, kx} W[f, c, ky, kx] · x̃[n, c, i·sh + ky, j·sw + kx]

where x̃ is x padded with zeros. ``im2col`` copies, for every output pixel,
the C·KH·KW input values under the kernel into one column, so that the sum
becomes a single matrix product over the whole batch,

    cols (N, C·KH·KW, OH·OW),   y = W_mat (F, C·KH·KW) @ cols -> (N, F, OH·OW),

which is already NCHW order, so the output needs no transpose. ``col2im``
is its adjoint: it adds each column back onto the pixels it came from, and
carries the gradient back to the input.
"""
import operator

from ..backend import get_array_module
from ..core import Function


def pair(value, name, op):
    """``value`` (an int or a pair of ints) as (rows, columns)."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    try:
        rows, columns = (operator.index(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
    return rows, columns


def pad_spatial(x, top, bottom, left, right, value=0.0):
    """x (N, C, H, W) with ``value`` added around its last two axes."""
    if top == bottom == left == right == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    padded = xp.full((N, C, top + H + bottom, left + W + right), value, dtype=x.dtype)
    padded[:, :, top:top + H, left:left + W] = x
    return padded


def window_slices(kernel, stride, out_size):
    """For each kernel offset (ky, kx), the rows and columns of the padded
    input that it meets, one for each of the OH×OW outputs (strided slices)."""
    (KH, KW), (sh, sw), (OH, OW) = kernel, stride, out_size
    for ky in range(KH):
        for kx in range(KW):
            rows = slice(ky, ky + sh * (OH - 1) + 1, sh)
            columns = slice(kx, kx + sw * (OW - 1) + 1, sw)
            yield ky, kx, rows, columns


def im2col(x, kernel, stride, out_size):
    """Padded x (N, C, Hp, Wp) -> cols (N, C·KH·KW, OH·OW).

    A strided view (N, C, KH, KW, OH, OW) reads x[n, c, i·sh + ky, j·sw + kx]
    at [n, c, ky, kx, i, j] without copying; the reshape makes the one copy.
    """
    xp = get_array_module(x)
    (KH, KW), (sh, sw), (OH, OW) = kernel, stride, out_size
    N, C = x.shape[:2]
    sN, sC, sH, sW = x.strides
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=(N, C, KH, KW, OH, OW), strides=(sN, sC, sH, sW, sH * sh, sW * sw))
    return windows.reshape(N, C * KH * KW, OH * OW)


def col2im(cols, padded_shape, kernel, stride, out_size):
    """cols (N, C·KH·KW, OH·OW) -> (N, C, Hp, Wp), the adjoint of ``im2col``:
    every column entry is added onto the input pixel it was copied from,
    one kernel offset at a time (KH·KW strided additions)."""
    xp = get_array_module(cols)
    N, C = padded_shape[:2]
    (KH, KW), (OH, OW) = kernel, out_size
    cols = cols.reshape(N, C, KH, KW, OH, OW)
    image = xp.zeros(padded_shape, dtype=cols.dtype)
    for ky, kx, rows, columns in window_slices(kernel, stride, out_size):
        image[:, :, rows, columns] += cols[:, :, ky, kx]
    return image


class Conv2d(Function):
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> y (N, F, OH, OW).

    With G = ∂L/∂y as (N, F, OH·OW):
    ∂L/∂W = Σ_n G_n colsₙᵀ,  ∂L/∂b = Σ_{n,i,j} G,  ∂L/∂x = col2im(W_matᵀ G).
    A 1×1 kernel with stride 1 and no padding needs no im2col: the input,
    seen as (N, C, H·W), already is its column matrix.
    """

    def __init__(self, stride=1, pad=0):
        self.stride = pair(stride, "stride", "conv2d")
        self.pad = pair(pad, "pad", "conv2d")
        if min(self.stride) < 1 or min(self.pad) < 0:
            raise ValueError(f"conv2d: stride must be >= 1 and pad >= 0, "
                             f"got stride={stride}, pad={pad}")

    def forward(self, x, W, b=None):
        self.out_size = _check_conv(x, W, b, self.stride, self.pad)
        N, C, H, Wd = x.shape
        F, _, KH, KW = W.shape
        (ph, pw), (OH, OW) = self.pad, self.out_size
        self.kernel, self.x_shape, self.W = (KH, KW), x.shape, W
        self.pointwise = (KH, KW, ph, pw) == (1, 1, 0, 0) and self.stride == (1, 1)
        if self.pointwise:
            cols = x.reshape(N, C, H * Wd)
        else:
            cols = im2col(pad_spatial(x, ph, ph, pw, pw), self.kernel, self.stride, self.out_size)
        self.cols = cols if self.needs_grad[1] else None
        y = W.reshape(F, C * KH * KW) @ cols
        if b is not None:
            y += b[:, None]
        return y.reshape(N, F, OH, OW)

    def backward(self, gy):
        N, F, OH, OW = gy.shape
        gy = gy.reshape(N, F, OH * OW)
        W_mat = self.W.reshape(F, -1)
        gx = gW = None
        if self.needs_grad[0]:
            gx = self._input_gradient(W_mat.T @ gy)
        if self.needs_grad[1]:
            gW = (gy @ self.cols.transpose(0, 2, 1)).sum(axis=0).reshape(self.W.shape)
        if len(self.needs_grad) == 2:
            return gx, gW
        gb = gy.sum(axis=(0, 2)) if self.needs_grad[2] else None
        return gx, gW, gb

    def _input_gradient(self, gcols):
        """gcols (N, C·KH·KW, OH·OW) -> ∂L/∂x (N, C, H, W)."""
        if self.pointwise:
            return gcols.reshape(self.x_shape)
        N, C, H, W = self.x_shape
        ph, pw = self.pad
        padded_shape = (N, C, H + 2 * ph, W + 2 * pw)
        gx = col2im(gcols, padded_shape, self.kernel, self.stride, self.out_size)
        return gx[:, :, ph:ph + H, pw:pw + W]


def _check_conv(x, W, b, stride, pad):
    """Raise a ValueError naming the shapes unless they fit; return (OH, OW)."""
    if x.ndim != 4:
        raise ValueError(f"conv2d: input must be (N, C, H, W), got shape {x.shape}")
    if W.ndim != 4:
        raise ValueError(f"conv2d: weight must be (F, C, KH, KW), got shape {W.shape}")
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels, weight expects "
                         f"{W.shape[1]} (input {x.shape}, weight {W.shape})")
    if b is not None and b.shape != (W.shape[0],):
        raise ValueError(f"conv2d: bias has shape {b.shape}, weight {W.shape} "
                         f"needs ({W.shape[0]},)")
    padded = (x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1])
    if W.shape[2] > padded[0] or W.shape[3] > padded[1]:
        raise ValueError(f"conv2d: kernel {W.shape[2]}x{W.shape[3]} is larger than the "
                         f"padded input {padded[0]}x{padded[1]} (input {x.shape}, pad {pad})")
    return tuple((p - k) // s + 1 for p, k, s in zip(padded, W.shape[2:], stride))


def conv2d(x, W, b=None, stride=1, pad=0):
    """Convolve x (N, C, H, W) with W (F, C, KH, KW), add b (F,) or None.

    ``stride`` and ``pad`` are ints or (rows, columns) pairs; returns
    y (N, F, OH, OW), OH = (H + 2·ph - KH) // sh + 1.
    """
    function = Conv2d(stride, pad)
    return function(x, W) if b is None else function(x, W, b)
