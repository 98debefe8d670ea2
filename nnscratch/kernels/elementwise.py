"""Dropout and ReLU on the GPU (``dropout.cu``, ``relu.cu``): the output and
the mask the backward needs, written in one pass. Both backward passes are a
single product G ⊙ mask, which CuPy already runs as one kernel.
"""
import numpy as np

from ..backend import get_array_module
from . import build


def dropout(x, uniform, p):
    """x (any shape), uniform in [0, 1) of the same shape -> (y, mask),
    mask = [uniform >= p] / (1 - p) in x's dtype, y = x ⊙ mask."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    uniform = xp.ascontiguousarray(uniform, dtype=xp.float64)
    if uniform.shape != x.shape:
        raise ValueError(f"dropout: uniform has shape {uniform.shape}, x has {x.shape}")
    y, mask = xp.empty_like(x), xp.empty_like(x)
    scale = x.dtype.type(1) / x.dtype.type(1 - p)
    build.launch(build.compiled("dropout.cu", "dropout_forward", x.dtype, "dropout"), x.size,
                 x, uniform, y, mask, np.float64(p), scale)
    return y, mask


def relu(x):
    """x (any shape) -> (y = x · [x > 0], mask = [x > 0] as bool)."""
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    y, mask = xp.empty_like(x), xp.empty(x.shape, dtype=bool)
    build.launch(build.compiled("relu.cu", "relu_forward", x.dtype, "relu"), x.size, x, y, mask)
    return y, mask
