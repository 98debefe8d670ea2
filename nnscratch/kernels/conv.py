"""im2col and col2im on the GPU (``im2col.cu``), in the layout of
``nnscratch.functions.conv``: cols (C·KH·KW, N·OH·OW).

Shapes: N batch, C channels, H×W image, KH×KW kernel, (sh, sw) stride,
(ph, pw) padding, OH×OW output. The functions take and return CuPy arrays.
"""
from ..backend import get_array_module
from . import build

SOURCE = "im2col.cu"


def im2col(x, kernel, stride, out_size, pad=(0, 0)):
    """x (N, C, H, W) -> cols (C·KH·KW, N·OH·OW), zero where a window covers the padding."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    N, C, H, W = x.shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = kernel, stride, pad, out_size
    cols = xp.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    build.launch(build.compiled(SOURCE, "im2col", x.dtype, "im2col"), cols.size,
                 x, cols, N, C, H, W, KH, KW, sh, sw, ph, pw, OH, OW)
    return cols


def col2im(cols, image_shape, kernel, stride, out_size, pad=(0, 0)):
    """cols (C·KH·KW, N·OH·OW) -> image (N, C, H, W), the adjoint of ``im2col``:
    each pixel receives the sum of the column entries copied from it."""
    xp = get_array_module(cols)
    cols = xp.ascontiguousarray(cols)
    N, C, H, W = image_shape
    (KH, KW), (sh, sw), (ph, pw), (OH, OW) = kernel, stride, pad, out_size
    image = xp.empty(image_shape, dtype=cols.dtype)
    build.launch(build.compiled(SOURCE, "col2im", cols.dtype, "col2im"), image.size,
                 cols, image, N, C, H, W, KH, KW, sh, sw, ph, pw, OH, OW)
    return image
