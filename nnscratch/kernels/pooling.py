"""Max pooling on the GPU (``max_pool.cu``): forward with the winner of each
window, backward that routes each gradient to its winner.

Shapes: N batch, C channels, H×W input, KH×KW window, (sh, sw) stride,
(ph, pw) padding, OH×OW output. ``argmax`` (N, C, OH, OW) int32 holds the
offset ky·KW + kx of each window's winner, as in ``nnscratch.functions.pooling``.
"""
from ..backend import get_array_module
from . import build

SOURCE = "max_pool.cu"


def max_pool_forward(x, kernel, stride, pad, out_size):
    """x (N, C, H, W) -> (y (N, C, OH, OW), argmax (N, C, OH, OW))."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = kernel, stride, pad, out_size
    y = xp.empty((N, C, OH, OW), dtype=x.dtype)
    argmax = xp.empty((N, C, OH, OW), dtype=xp.int32)
    build.launch(build.compiled(SOURCE, "max_pool_forward", x.dtype, "max_pool2d"), y.size,
                 x, y, argmax, H, W, KH, KW, sh, sw, ph, pw, OH, OW)
    return y, argmax


def max_pool_backward(gy, argmax, x_shape, kernel, stride, pad):
    """∂L/∂y (N, C, OH, OW) and the forward's argmax -> ∂L/∂x of shape ``x_shape``."""
    xp = get_array_module(gy)
    gy = xp.ascontiguousarray(gy)
    argmax = xp.ascontiguousarray(argmax, dtype=xp.int32)
    OH, OW = gy.shape[2:]
    H, W = x_shape[2:]
    (KH, KW), (sh, sw), (ph, pw) = kernel, stride, pad
    gx = xp.empty(x_shape, dtype=gy.dtype)
    build.launch(build.compiled(SOURCE, "max_pool_backward", gy.dtype, "max_pool2d"), gx.size,
                 gy, argmax, gx, H, W, KH, KW, sh, sw, ph, pw, OH, OW)
    return gx
