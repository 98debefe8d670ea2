"""Pooling (thesis §3.4): max pooling, average pooling, global average pooling.

Shapes: N batch, C channels, H×W input size, KH×KW window, (sh, sw) stride
(the window by default), (ph, pw) padding, OH×OW output size.

    max:  y[n, c, i, j] = max_{ky, kx} x̃[n, c, i·sh + ky, j·sw + kx]
    avg:  y[n, c, i, j] = 1/(KH·KW) Σ_{ky, kx} x[n, c, i·sh + ky, j·sw + kx]

where x̃ is x with ph rows and pw columns of -∞ around it.

Windows are read one kernel offset (ky, kx) at a time, as strided slices of
the whole batch (``window_slices``), so no loop runs over pixels.
"""
import math

from .. import kernels
from ..backend import get_array_module
from ..core import Function
from .conv import pad_spatial, pair, window_slices


def pool_output_size(size, kernel, stride, pad, ceil_mode):
    """OH from H (or OW from W), rounding down, or up with ``ceil_mode``.

    As in Caffe, ceil mode lets the last window hang over the bottom edge (it
    is clipped there); as in PyTorch, that window must still start inside
    the input or its top padding, otherwise it is dropped.
    """
    span = size + 2 * pad - kernel
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def column_phases(x, sw):
    """x (N, C, Hp, Wp) -> [x[..., r::sw] for r < sw], each copied to be contiguous.

    A window offset kx reads columns kx, kx + sw, kx + 2·sw, ...: all in phase
    kx % sw, consecutive there from index kx // sw. NumPy runs several times
    faster on rows it reads contiguously than on every sw-th element.
    """
    if sw == 1:
        return [x]
    xp = get_array_module(x)
    return [xp.ascontiguousarray(x[..., r::sw]) for r in range(sw)]


def interleave_columns(phases):
    """The inverse of ``column_phases``: [x[..., r::sw] for r < sw] -> x."""
    if len(phases) == 1:
        return phases[0]
    xp = get_array_module(phases[0])
    N, C, Hp = phases[0].shape[:3]
    x = xp.empty((N, C, Hp, sum(p.shape[3] for p in phases)), dtype=phases[0].dtype)
    for r, phase in enumerate(phases):
        x[..., r::len(phases)] = phase
    return x


def phase_windows(phases, kernel, stride, out_size):
    """For each offset ky·KW + kx, the (N, C, OH, OW) view of the padded input
    (given as its column phases) that the windows meet there."""
    (KH, KW), (sh, sw), (OH, OW) = kernel, stride, out_size
    for ky in range(KH):
        for kx in range(KW):
            rows, start = slice(ky, ky + sh * (OH - 1) + 1, sh), kx // sw
            yield ky * KW + kx, phases[kx % sw][:, :, rows, start:start + OW]


# Max pooling runs over the N·C planes of the input in blocks of about this
# many bytes, so that its ~30 passes over each block (one a window offset)
# read and write the processor's cache rather than memory: measured twice
# as fast as whole batches on VGG's and SqueezeNet's first poolings.
BLOCK_BYTES = 3 * 2 ** 19


def plane_blocks(planes, bytes_per_plane):
    """Slices of ``planes`` planes, about BLOCK_BYTES each (at least one plane)."""
    step = max(1, BLOCK_BYTES // bytes_per_plane)
    return [slice(start, min(start + step, planes)) for start in range(0, planes, step)]


class MaxPool2d(Function):
    """x (N, C, H, W) -> y (N, C, OH, OW), the largest value of each window.

    Padding holds -∞, so a padded cell never wins. When x needs a gradient,
    forward keeps the offset ky·KW + kx of each window's winner (the first
    one, on ties); backward routes each output's gradient to that one input,
    ∂L/∂x = Σ G·[x is the winner].

    There is no separate forward for windows that tile the input (kernel
    equal to stride): the offset loop reads them as strided slices already,
    and measured faster than NumPy reducing the window axes of a
    (N, C, OH, KH, OW, KW) reshape, whose innermost axis is only KW long.
    The columns of the input are first split into their stride phases
    (``column_phases``), so that every window view reads whole rows, and
    backward gathers the gradient the same way. In backward, windows that do
    not overlap (stride ≥ kernel) have their gradients written in place
    rather than added. The offsets are kept as uint8 (int32 for windows of
    more than 256 cells). Both passes run block by block of the N·C planes
    (``plane_blocks``), the loops reusing their buffers within a block.
    """

    def __init__(self, kernel, stride=None, pad=0, ceil_mode=False):
        self.kernel = pair(kernel, "kernel", "max_pool2d")
        self.stride = self.kernel if stride is None else pair(stride, "stride", "max_pool2d")
        self.pad = pair(pad, "pad", "max_pool2d")
        self.ceil_mode = ceil_mode
        _check_window("max_pool2d", self.kernel, self.stride, self.pad)

    def forward(self, x):
        self.out_size = _check_input("max_pool2d", x, self.kernel, self.stride, self.pad,
                                     self.ceil_mode)
        xp = get_array_module(x)
        (KH, KW), (OH, OW) = self.kernel, self.out_size
        N, C, H, W = self.x_shape = x.shape
        if kernels.on_gpu(x):  # one CUDA kernel: nnscratch/kernels/max_pool.cu
            y, argmax = kernels.max_pool_forward(x, self.kernel, self.stride, self.pad,
                                                 self.out_size)
            self.argmax = argmax if self.needs_grad[0] else None
            return y
        planes = x.reshape(N * C, 1, H, W)  # one plane a "batch" item, for the blocks
        y = xp.empty((N * C, 1, OH, OW), dtype=x.dtype)
        self.argmax = None
        if self.needs_grad[0]:
            self.argmax = xp.zeros(y.shape, dtype=xp.uint8 if KH * KW <= 256 else xp.int32)
        for block in plane_blocks(N * C, H * W * x.itemsize):
            y[block] = self._forward_block(planes[block],
                                           None if self.argmax is None else self.argmax[block])
        if self.argmax is not None:
            self.argmax = self.argmax.reshape(N, C, OH, OW)
        return y.reshape(N, C, OH, OW)

    def _padding(self):
        """(top, bottom, left, right): the padding, and below and right of it ceil mode's overhang."""
        (KH, KW), (sh, sw), (ph, pw), (OH, OW) = self.kernel, self.stride, self.pad, self.out_size
        H, W = self.x_shape[2:]
        bottom = max(0, (OH - 1) * sh + KH - H - 2 * ph)
        right = max(0, (OW - 1) * sw + KW - W - 2 * pw)
        return ph, ph + bottom, pw, pw + right

    def _forward_block(self, x, argmax):
        """The maxima of a block of planes (B, 1, H, W); the winners' offsets into
        ``argmax`` (B, 1, OH, OW), zeros on entry, unless it is None."""
        xp = get_array_module(x)
        x = pad_spatial(x, *self._padding(), value=-float("inf"))
        windows = phase_windows(column_phases(x, self.stride[1]), self.kernel, self.stride,
                                self.out_size)
        y = next(windows)[1].copy()  # the window's first cell, offset (0, 0)
        if argmax is not None:
            greater, marked = xp.empty(y.shape, dtype=bool), xp.empty_like(argmax)
        for offset, window in windows:
            if argmax is not None:  # strictly greater: the first of equals stays;
                # offsets grow through the loop, so the largest one marked is the winner's
                xp.greater(window, y, out=greater)
                xp.multiply(greater, marked.dtype.type(offset), out=marked)
                xp.maximum(argmax, marked, out=argmax)
            xp.maximum(y, window, out=y)
        return y

    def backward(self, gy):
        if kernels.on_gpu(gy):
            return kernels.max_pool_backward(gy, self.argmax, self.x_shape, self.kernel,
                                             self.stride, self.pad)
        xp = get_array_module(gy)
        N, C, H, W = self.x_shape
        OH, OW = self.out_size
        gx = xp.empty((N * C, 1, H, W), dtype=gy.dtype)
        gy, argmax = gy.reshape(N * C, 1, OH, OW), self.argmax.reshape(N * C, 1, OH, OW)
        for block in plane_blocks(N * C, H * W * gy.itemsize):
            gx[block] = self._backward_block(gy[block], argmax[block])
        return gx.reshape(self.x_shape)

    def _backward_block(self, gy, argmax):
        """∂L/∂x (B, 1, H, W) of a block of planes from its G and winners' offsets."""
        xp = get_array_module(gy)
        (KH, KW), (sh, sw) = self.kernel, self.stride
        overlap = sh < KH or sw < KW  # then an input cell can win in several windows
        B, (H, W) = gy.shape[0], self.x_shape[2:]
        top, bottom, left, right = self._padding()
        Hp, Wp = top + H + bottom, left + W + right
        g_phases = [xp.zeros((B, 1, Hp, len(range(r, Wp, sw))), dtype=gy.dtype)
                    for r in range(sw)]
        won = xp.empty(gy.shape, dtype=bool)
        share = xp.empty_like(gy) if overlap else None
        for offset, window in phase_windows(g_phases, self.kernel, self.stride, self.out_size):
            xp.equal(argmax, offset, out=won)
            if overlap:
                window += xp.multiply(gy, won, out=share)
            else:
                xp.multiply(gy, won, out=window)
        return interleave_columns(g_phases)[:, :, top:top + H, left:left + W]


class AvgPool2d(Function):
    """x (N, C, H, W) -> y (N, C, OH, OW), the mean of each window (no padding).

    ∂L/∂x: each output's gradient, divided by KH·KW, goes to every input of
    its window.
    """

    def __init__(self, kernel, stride=None):
        self.kernel = pair(kernel, "kernel", "avg_pool2d")
        self.stride = self.kernel if stride is None else pair(stride, "stride", "avg_pool2d")
        _check_window("avg_pool2d", self.kernel, self.stride, (0, 0))

    def forward(self, x):
        self.out_size = _check_input("avg_pool2d", x, self.kernel, self.stride, (0, 0), False)
        self.x_shape = x.shape
        xp = get_array_module(x)
        y = xp.zeros(x.shape[:2] + self.out_size, dtype=x.dtype)
        for _, _, rows, columns in window_slices(self.kernel, self.stride, self.out_size):
            y += x[:, :, rows, columns]
        return y / (self.kernel[0] * self.kernel[1])

    def backward(self, gy):
        xp = get_array_module(gy)
        share = gy / (self.kernel[0] * self.kernel[1])
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        for _, _, rows, columns in window_slices(self.kernel, self.stride, self.out_size):
            gx[:, :, rows, columns] += share
        return gx


class GlobalAvgPool2d(Function):
    """x (N, C, H, W) -> y (N, C), the mean of each channel's map.

    The output is (N, C), not (N, C, 1, 1), so that it feeds ``linear`` or a
    softmax directly (SqueezeNet's last layer). ∂L/∂x = G / (H·W) everywhere.
    """

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"global_avg_pool2d: input must be (N, C, H, W), got shape {x.shape}")
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, gy):
        xp = get_array_module(gy)
        N, C, H, W = self.x_shape
        return xp.broadcast_to((gy / (H * W))[:, :, None, None], self.x_shape).copy()


def _check_window(op, kernel, stride, pad):
    if min(kernel) < 1 or min(stride) < 1 or min(pad) < 0:
        raise ValueError(f"{op}: kernel and stride must be >= 1 and pad >= 0, "
                         f"got kernel={kernel}, stride={stride}, pad={pad}")
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{op}: pad {pad} must be at most half the kernel {kernel}")


def _check_input(op, x, kernel, stride, pad, ceil_mode):
    """Raise a ValueError naming the shapes unless x fits; return (OH, OW)."""
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be (N, C, H, W), got shape {x.shape}")
    padded = (x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(f"{op}: kernel {kernel[0]}x{kernel[1]} is larger than the padded "
                         f"input {padded[0]}x{padded[1]} (input {x.shape}, pad {pad})")
    return tuple(pool_output_size(size, k, s, p, ceil_mode)
                 for size, k, s, p in zip(x.shape[2:], kernel, stride, pad))


def max_pool2d(x, kernel, stride=None, pad=0, ceil_mode=False):
    """Max pooling of x (N, C, H, W) over KH×KW windows (``kernel`` an int or
    a pair); ``stride`` defaults to the kernel. Returns (N, C, OH, OW)."""
    return MaxPool2d(kernel, stride, pad, ceil_mode)(x)


def avg_pool2d(x, kernel, stride=None):
    """Average pooling of x (N, C, H, W) over KH×KW windows, no padding."""
    return AvgPool2d(kernel, stride)(x)


def global_avg_pool2d(x):
    """The mean over H and W of x (N, C, H, W): returns (N, C)."""
    return GlobalAvgPool2d()(x)
