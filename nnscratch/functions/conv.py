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

from .. import kernels
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


def im2col(x, kernel, stride, out_size, out=None):
    """Padded x (N, C, Hp, Wp) -> cols (N, C·KH·KW, OH·OW).

    A strided view (N, C, KH, KW, OH, OW) reads x[n, c, i·sh + ky, j·sw + kx]
    at [n, c, ky, kx, i, j] without copying; copying it is the one copy. On
    the CPU it is copied into ``out`` (a contiguous array of the result's
    shape) when one is given, so that a caller can reuse its memory.
    """
    if kernels.on_gpu(x):  # the CUDA kernel of nnscratch/kernels/im2col.cu
        return kernels.im2col(x, kernel, stride, out_size)
    xp = get_array_module(x)
    (KH, KW), (sh, sw), (OH, OW) = kernel, stride, out_size
    N, C = x.shape[:2]
    sN, sC, sH, sW = x.strides
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=(N, C, KH, KW, OH, OW), strides=(sN, sC, sH, sW, sH * sh, sW * sw))
    if out is None:
        return windows.reshape(N, C * KH * KW, OH * OW)
    xp.copyto(out.reshape(windows.shape), windows)
    return out


def col2im(cols, padded_shape, kernel, stride, out_size):
    """cols (N, C·KH·KW, OH·OW) -> (N, C, Hp, Wp), the adjoint of ``im2col``:
    every column entry is added onto the input pixel it was copied from,
    one kernel offset at a time (KH·KW strided additions)."""
    if kernels.on_gpu(cols):  # the CUDA kernel of nnscratch/kernels/im2col.cu
        return kernels.col2im(cols, padded_shape, kernel, stride, out_size)
    xp = get_array_module(cols)
    N, C = padded_shape[:2]
    (KH, KW), (OH, OW) = kernel, out_size
    cols = cols.reshape(N, C, KH, KW, OH, OW)
    image = xp.zeros(padded_shape, dtype=cols.dtype)
    for ky, kx, rows, columns in window_slices(kernel, stride, out_size):
        image[:, :, rows, columns] += cols[:, :, ky, kx]
    return image


# The columns are built a few images at a time, about this many bytes, so
# that each chunk is still in the processor's cache when the matrix product
# reads it, and one buffer serves every chunk (no fresh memory to fault in).
CHUNK_BYTES = 16 * 2 ** 20


def batch_chunks(x, bytes_per_image):
    """Slices of x's batch of about CHUNK_BYTES of columns each (at least one
    image); a single slice on the GPU, where one large product is fastest."""
    N = x.shape[0]
    step = N if kernels.on_gpu(x) else max(1, CHUNK_BYTES // bytes_per_image)
    return [slice(start, min(start + step, N)) for start in range(0, N, step)]


class Conv2d(Function):
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> y (N, F, OH, OW).

    With G = ∂L/∂y as (N, F, OH·OW):
    ∂L/∂W = Σ_n G_n colsₙᵀ,  ∂L/∂b = Σ_{n,i,j} G,  ∂L/∂x = col2im(W_matᵀ G).
    A 1×1 kernel with stride 1 and no padding needs no im2col: the input,
    seen as (N, C, H·W), already is its column matrix.

    The batch goes through im2col and the product in chunks of a few images
    (``batch_chunks``), so the full (N, C·KH·KW, OH·OW) column matrix, KH·KW
    times the input, never exists: forward keeps x, and backward builds the
    columns again, chunk by chunk, for ∂L/∂W.
    """

    def __init__(self, stride=1, pad=0):
        self.stride = pair(stride, "stride", "conv2d")
        self.pad = pair(pad, "pad", "conv2d")
        if min(self.stride) < 1 or min(self.pad) < 0:
            raise ValueError(f"conv2d: stride must be >= 1 and pad >= 0, "
                             f"got stride={stride}, pad={pad}")

    def forward(self, x, W, b=None):
        self.out_size = _check_conv(x, W, b, self.stride, self.pad)
        xp = get_array_module(x)
        N, F, (OH, OW) = x.shape[0], W.shape[0], self.out_size
        (ph, pw), self.kernel = self.pad, W.shape[2:]
        self.pointwise = self.kernel == (1, 1) and (ph, pw) == (0, 0) and self.stride == (1, 1)
        self.x, self.W = x, W
        W_mat = W.reshape(F, -1)
        y = xp.empty((N, F, OH * OW), dtype=x.dtype)
        for images, cols in self._columns(x):
            xp.matmul(W_mat, cols, out=y[images])
            if b is not None:
                y[images] += b[:, None]
        return y.reshape(N, F, OH, OW)

    def _columns(self, x):
        """(images, their columns (n, C·KH·KW, OH·OW)) for each chunk of the batch.

        The column buffer (and the zero-bordered buffer of padded images) is
        reused from chunk to chunk: each columns array is valid until the next.
        """
        N, C, H, W = x.shape
        (KH, KW), (ph, pw), (OH, OW) = self.kernel, self.pad, self.out_size
        if self.pointwise:  # x, seen as (N, C, H·W), is its own column matrix
            yield slice(0, N), x.reshape(N, C, H * W)
            return
        if kernels.on_gpu(x):  # the whole batch at once, in its own memory
            yield slice(0, N), im2col(pad_spatial(x, ph, ph, pw, pw), self.kernel, self.stride,
                                      self.out_size)
            return
        xp = get_array_module(x)
        chunks = batch_chunks(x, C * KH * KW * OH * OW * x.itemsize)
        n = chunks[0].stop
        padded = xp.zeros((n, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
        cols = xp.empty((n, C * KH * KW, OH * OW), dtype=x.dtype)
        for images in chunks:
            n = images.stop - images.start
            padded[:n, :, ph:ph + H, pw:pw + W] = x[images]
            yield images, im2col(padded[:n], self.kernel, self.stride, self.out_size, cols[:n])

    def backward(self, gy):
        xp = get_array_module(gy)
        N, F, OH, OW = gy.shape
        gy = gy.reshape(N, F, OH * OW)
        W_mat = self.W.reshape(F, -1)
        gx = gW = None
        if self.needs_grad[0]:
            gx = self._input_gradient(gy, W_mat)
        if self.needs_grad[1]:
            gW = xp.zeros_like(W_mat)
            for images, cols in self._columns(self.x):
                gW += (gy[images] @ cols.transpose(0, 2, 1)).sum(axis=0)
            gW = gW.reshape(self.W.shape)
        if len(self.needs_grad) == 2:
            return gx, gW
        gb = gy.sum(axis=(0, 2)) if self.needs_grad[2] else None
        return gx, gW, gb

    def _input_gradient(self, gy, W_mat):
        """G (N, F, OH·OW) -> ∂L/∂x (N, C, H, W) = col2im(W_matᵀ G), chunk by chunk."""
        if self.pointwise:
            return (W_mat.T @ gy).reshape(self.x.shape)
        xp = get_array_module(gy)
        N, C, H, W = self.x.shape
        ph, pw = self.pad
        gx = xp.empty(self.x.shape, dtype=gy.dtype)
        for images in batch_chunks(gy, W_mat.shape[1] * gy.shape[2] * gy.itemsize):
            gcols = W_mat.T @ gy[images]
            padded_shape = (len(gcols), C, H + 2 * ph, W + 2 * pw)
            padded = col2im(gcols, padded_shape, self.kernel, self.stride, self.out_size)
            gx[images] = padded[:, :, ph:ph + H, pw:pw + W]
        return gx


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
