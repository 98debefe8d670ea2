"""Two-dimensional convolution (thesis §3.4, Fig. 3.3), as one matrix product.

Shapes: N batch, C input channels, H×W input size, F filters (output
channels), KH×KW kernel size, (sh, sw) stride, (ph, pw) zero padding,
OH×OW output size with OH = (H + 2ph - KH) // sh + 1 (likewise OW).

    y[n, f, i, j] = b[f] + Σ_{c, ky, kx} W[f, c, ky, kx] · x̃[n, c, i·sh + ky, j·sw + kx]

where x̃ is x padded with zeros. ``im2col`` copies, for every output pixel
of every image, the C·KH·KW input values under the kernel into one column,
so that the sum becomes a single matrix product,

    cols (C·KH·KW, N·OH·OW),   y = W_mat (F, C·KH·KW) @ cols -> (F, N·OH·OW),

whose columns are put back in NCHW order. ``col2im`` is its adjoint: it adds
each column back onto the pixels it came from. Backward needs it only for
strided convolutions: with stride 1, the gradient of the input is itself a
convolution, of the output's gradient with the kernel turned by 180°
(``turned_kernel``), and runs through the same im2col and product.
"""
import operator

from .. import kernels
from ..backend import get_array_module
from ..core import Function
from . import winograd
from .chunks import batch_chunks, row_chunks


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
    """Padded x (N, C, Hp, Wp) -> cols (C·KH·KW, N·OH·OW).

    A strided view (C, KH, KW, N, OH, OW) reads x[n, c, i·sh + ky, j·sw + kx]
    at [c, ky, kx, n, i, j] without copying; copying it is the one copy. On
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
        x, shape=(C, KH, KW, N, OH, OW), strides=(sC, sH, sW, sN, sH * sh, sW * sw))
    if out is None:
        return windows.reshape(C * KH * KW, N * OH * OW)
    xp.copyto(out.reshape(windows.shape), windows)
    return out


def col2im(cols, padded_shape, kernel, stride, out_size):
    """cols (C·KH·KW, N·OH·OW) -> (N, C, Hp, Wp), the adjoint of ``im2col``:
    every column entry is added onto the input pixel it was copied from,
    one kernel offset at a time (KH·KW strided additions)."""
    if kernels.on_gpu(cols):  # the CUDA kernel of nnscratch/kernels/im2col.cu
        return kernels.col2im(cols, padded_shape, kernel, stride, out_size)
    xp = get_array_module(cols)
    N, C = padded_shape[:2]
    (KH, KW), (OH, OW) = kernel, out_size
    cols = cols.reshape(C, KH, KW, N, OH, OW)
    image = xp.zeros(padded_shape, dtype=cols.dtype)
    for ky, kx, rows, columns in window_slices(kernel, stride, out_size):
        image[:, :, rows, columns] += cols[:, ky, kx].transpose(1, 0, 2, 3)
    return image


def turned_kernel(W):
    """W (F, C, KH, KW) -> (C, F, KH, KW): turned by 180° and its channels swapped.

    With stride 1, ∂L/∂x[n, c, u, v] = Σ_{f, ky, kx} W[f, c, ky, kx] G[n, f, u + ph - ky, v + pw - kx]
    (G = ∂L/∂y, zero outside it): the convolution of G, padded by (KH-1-ph, KW-1-pw),
    with this kernel.
    """
    xp = get_array_module(W)
    return xp.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


# The columns are built a chunk at a time, about this many bytes: a few whole
# images, or, when one image's columns are larger, a block of its output rows,
# so that each chunk is still in the processor's cache when the matrix
# product reads it, and one buffer serves every chunk (no fresh memory to
# fault in). Measured on VGG-16's 64-channel layers: 4 MiB blocks made the
# forward a third faster than whole images of 29-115 MB.
CHUNK_BYTES = 4 * 2 ** 20


def column_chunks(x, kernel, out_size):
    """The chunks of x's columns (C·KH·KW rows, OH·OW columns an image), ``row_chunks``."""
    C, (KH, KW), (OH, OW) = x.shape[1], kernel, out_size
    return row_chunks(x, C * KH * KW * OW * x.itemsize, OH, CHUNK_BYTES)


def chunk_columns(x, kernel, stride, pad, out_size):
    """(images, output rows, their columns (C·KH·KW, n·m·OW)) for each chunk of x
    (``column_chunks``), m the number of rows.

    The column buffer (and the zero-bordered buffer of padded images) is
    reused from chunk to chunk: each columns array is valid until the next.
    """
    N, C, H, W = x.shape
    (KH, KW), (sh, _), (ph, pw), (OH, OW) = kernel, stride, pad, out_size
    if kernels.on_gpu(x):  # the whole batch at once, in its own memory
        yield (slice(0, N), slice(0, OH),
               im2col(pad_spatial(x, ph, ph, pw, pw), kernel, stride, out_size))
        return
    xp = get_array_module(x)
    chunks = column_chunks(x, kernel, out_size)
    n = chunks[0][0].stop
    padded = xp.zeros((n, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    size = n * (chunks[0][1].stop - chunks[0][1].start) * OW
    cols = xp.empty((C * KH * KW, size), dtype=x.dtype)
    padded_images = None
    for images, rows in chunks:
        n, m = images.stop - images.start, rows.stop - rows.start
        if images != padded_images:  # an image split into row blocks is padded once
            padded[:n, :, ph:ph + H, pw:pw + W] = x[images]
            padded_images = images
        yield images, rows, im2col(padded[:n, :, rows.start * sh:], kernel, stride, (m, OW),
                                   cols[:, :n * m * OW])


def chunk_matrix(a, images, rows):
    """a[images, :, rows] of a (N, K, R, S) array as the (K, n·m·S) matrix of the
    columns' layout: a view for one image, a transposed copy for several."""
    block = a[images, :, rows]
    if block.shape[0] == 1:
        return block[0].reshape(block.shape[1], -1)
    return block.transpose(1, 0, 2, 3).reshape(block.shape[1], -1)


def correlate(W, b, columns, N, out_size):
    """y (N, F, OH, OW) = the sum of the module docstring, chunk by chunk, for each
    (images, rows, cols) of ``columns`` (``chunk_columns``)."""
    xp = get_array_module(W)
    y = xp.empty((N, W.shape[0]) + tuple(out_size), dtype=W.dtype)
    block = ProductBlock(W.reshape(W.shape[0], -1), b)
    for images, rows, cols in columns:
        block.write(y, images, rows, cols)
    return y


class ProductBlock:
    """Writes W_mat @ cols (+ b), one chunk's product (F, n·m·S), into its block
    y[images, :, rows] of an (N, F, R, S) array: straight into y for one image,
    through one reused buffer and a transposing copy for several."""

    def __init__(self, W_mat, b=None):
        self.W_mat, self.b, self.buffer = W_mat, b, None

    def write(self, y, images, rows, cols):
        xp = get_array_module(cols)
        F, n = self.W_mat.shape[0], images.stop - images.start
        if n == 1:
            out = xp.matmul(self.W_mat, cols, out=chunk_matrix(y, images, rows))
            if self.b is not None:
                out += self.b[:, None]
            return
        if self.buffer is None:
            self.buffer = xp.empty((F, cols.shape[1]), dtype=cols.dtype)
        product = xp.matmul(self.W_mat, cols, out=self.buffer[:, :cols.shape[1]])
        product = product.reshape(F, n, -1, y.shape[3]).transpose(1, 0, 2, 3)
        if self.b is None:
            y[images, :, rows] = product
        else:
            xp.add(product, self.b[:, None, None], out=y[images, :, rows])


class Conv2d(Function):
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> y (N, F, OH, OW).

    With G = ∂L/∂y laid out as the columns, (F, N·OH·OW):
    ∂L/∂W = G colsᵀ,  ∂L/∂b = Σ_{n,i,j} G,  ∂L/∂x = col2im(W_matᵀ G), or, with
    stride 1 (and F ≤ C), the convolution of G with ``turned_kernel(W)``,
    whose columns then give ∂L/∂W as well (``_turned_gradients``).
    A 1×1 kernel with stride 1 and no padding needs no im2col: the input,
    seen as (N, C, H·W), already holds every image's column matrix. A 3×3
    kernel with stride 1, on the CPU, with enough channels (``winograd.suits``),
    goes forward by Winograd's F(2×2, 3×3) instead (``winograd.correlate``);
    its backward is the same as im2col's, from x and W.

    The batch goes through im2col and the product in chunks of a few images
    (``batch_chunks``), so the full column matrix, KH·KW times the input,
    never exists: forward keeps x, and backward builds the columns again,
    chunk by chunk, for ∂L/∂W (keeping them measured no faster: fresh memory
    costs what the copy does).
    """

    def __init__(self, stride=1, pad=0):
        self.stride = pair(stride, "stride", "conv2d")
        self.pad = pair(pad, "pad", "conv2d")
        if min(self.stride) < 1 or min(self.pad) < 0:
            raise ValueError(f"conv2d: stride must be >= 1 and pad >= 0, "
                             f"got stride={stride}, pad={pad}")

    def forward(self, x, W, b=None):
        self.out_size = _check_conv(x, W, b, self.stride, self.pad)
        self.kernel = W.shape[2:]
        self.pointwise = self.kernel == (1, 1) and self.pad == (0, 0) and self.stride == (1, 1)
        self.x, self.W = x, W
        if winograd.suits(x, W, self.stride, self.pad):
            return winograd.correlate(x, W, b, self.pad)
        if not self.pointwise:
            return correlate(W, b, self._columns(), x.shape[0], self.out_size)
        N, C, H, W_ = x.shape
        y = W.reshape(W.shape[0], C) @ x.reshape(N, C, H * W_)  # one product per image
        if b is not None:
            y += b[:, None]
        return y.reshape(N, -1, H, W_)

    def _columns(self):
        """The chunks' columns of x (``chunk_columns``)."""
        return chunk_columns(self.x, self.kernel, self.stride, self.pad, self.out_size)

    def backward(self, gy):
        N, F, OH, OW = gy.shape
        gx = gW = None
        if self.needs_grad[0] and self._turned():
            gx, gW = self._turned_gradients(gy, weight=self.needs_grad[1])
        elif self.needs_grad[0]:
            gx = self._input_gradient_pointwise(gy) if self.pointwise else \
                self._input_gradient_col2im(gy)
        if self.needs_grad[1] and gW is None:
            gW = self._weight_gradient(gy.reshape(N, F, OH * OW)).reshape(self.W.shape)
        if len(self.needs_grad) == 2:
            return gx, gW
        gb = gy.sum(axis=(0, 2, 3)) if self.needs_grad[2] else None
        return gx, gW, gb

    def _weight_gradient(self, gy):
        """G (N, F, OH·OW) -> ∂L/∂W_mat (F, C·KH·KW) = Σ over chunks of G_chunk colsᵀ."""
        xp = get_array_module(gy)
        N, F, P = gy.shape
        if self.pointwise:
            return xp.einsum("nfp,ncp->fc", gy, self.x.reshape(N, -1, P), optimize=True)
        gW = None
        gy = gy.reshape((N, F) + tuple(self.out_size))
        for images, rows, cols in self._columns():
            gW = _accumulate(gW, chunk_matrix(gy, images, rows) @ cols.T)
        return gW

    def _turned(self):
        """Whether ∂L/∂x is computed as a convolution (``turned_kernel``): stride 1,
        padding below the kernel, and F ≤ C, since its columns hold F·KH·KW rows
        where col2im's hold C·KH·KW (measured faster for F = C, slower from F = 2C)."""
        (KH, KW), (ph, pw) = self.kernel, self.pad
        F, C = self.W.shape[:2]
        return not self.pointwise and self.stride == (1, 1) and ph < KH and pw < KW and F <= C

    def _turned_gradients(self, gy, weight):
        """∂L/∂x, and ∂L/∂W if ``weight`` (else None), from one im2col of G.

        ∂L/∂x = turned_mat (C, F·KH·KW) @ cols_G, cols_G the columns of G padded by
        (KH-1-ph, KW-1-pw), one per input pixel; the same columns give the gradient
        of the turned kernel, x (C, N·H·W) @ cols_Gᵀ, and ∂L/∂W is that turned back
        (``turned_kernel`` is its own inverse).
        """
        xp = get_array_module(gy)
        N, C, H, W = self.x.shape
        (KH, KW), (ph, pw) = self.kernel, self.pad
        turned = turned_kernel(self.W)
        gx = xp.empty(self.x.shape, dtype=gy.dtype)
        block, g_turned = ProductBlock(turned.reshape(C, -1)), None
        for images, rows, cols in chunk_columns(gy, self.kernel, (1, 1),
                                                (KH - 1 - ph, KW - 1 - pw), (H, W)):
            block.write(gx, images, rows, cols)
            if weight:  # x in the columns' layout, a view for one image
                g_turned = _accumulate(g_turned, chunk_matrix(self.x, images, rows) @ cols.T)
        return gx, (turned_kernel(g_turned.reshape(turned.shape)) if weight else None)

    def _input_gradient_pointwise(self, gy):
        """∂L/∂x = W_matᵀ G, image by image (1×1 kernel, stride 1, no padding)."""
        N, C, H, W = self.x.shape
        F = gy.shape[1]
        return (self.W.reshape(F, C).T @ gy.reshape(N, F, H * W)).reshape(self.x.shape)

    def _input_gradient_col2im(self, gy):
        """∂L/∂x = col2im(W_matᵀ G), chunk by chunk (strided convolutions)."""
        xp = get_array_module(gy)
        N, C, H, W = self.x.shape
        F, P = gy.shape[1], gy.shape[2] * gy.shape[3]
        ph, pw = self.pad
        W_mat = self.W.reshape(F, -1)
        gx = xp.empty(self.x.shape, dtype=gy.dtype)
        for images in batch_chunks(gy, W_mat.shape[1] * P * gy.itemsize, CHUNK_BYTES):
            n = images.stop - images.start
            G = gy[images].reshape(n, F, P).transpose(1, 0, 2).reshape(F, n * P)
            padded_shape = (n, C, H + 2 * ph, W + 2 * pw)
            padded = col2im(W_mat.T @ G, padded_shape, self.kernel, self.stride, self.out_size)
            gx[images] = padded[:, :, ph:ph + H, pw:pw + W]
        return gx


def _accumulate(total, term):
    """total + term, into total (None: term)."""
    if total is None:
        return term
    total += term
    return total


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
