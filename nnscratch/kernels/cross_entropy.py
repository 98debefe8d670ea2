"""Softmax cross-entropy with a mask on the GPU (``softmax_cross_entropy.cu``),
eq. 3.2 of the thesis.

Shapes: logits (..., V) with P positions in the leading axes, targets (...)
integer ids, weight (...) the mask as 0/1 in the logits' dtype. The forward
returns each position's loss term and log Z (the log of the softmax's
denominator); the backward recomputes the probabilities from log Z.
"""
import numpy as np

from ..backend import get_array_module
from . import build

SOURCE = "softmax_cross_entropy.cu"
MAX_THREADS = 256  # the MAX_THREADS of the .cu file: the forward's largest block


def forward_threads(V):
    """The forward's block size: a power of two from 32 up to MAX_THREADS, about V."""
    return min(MAX_THREADS, max(32, 1 << (V - 1).bit_length()))


def softmax_cross_entropy_forward(logits, targets, weight):
    """-> (terms (...) with terms_p = -m_p log softmax(logits_p)[y_p], log_z (...))."""
    xp = get_array_module(logits)
    V = logits.shape[-1]
    rows = xp.ascontiguousarray(logits).reshape(-1, V)
    ids = xp.ascontiguousarray(targets, dtype=xp.int64).reshape(-1)
    weight = xp.ascontiguousarray(weight, dtype=logits.dtype).reshape(-1)
    terms, log_z = (xp.empty(len(rows), dtype=logits.dtype) for _ in range(2))
    kernel = build.compiled(SOURCE, "softmax_cross_entropy_forward", logits.dtype, "cross_entropy")
    kernel((len(rows),), (forward_threads(V),), (rows, ids, weight, terms, log_z, np.int32(V)))
    return terms.reshape(logits.shape[:-1]), log_z.reshape(logits.shape[:-1])


def softmax_cross_entropy_backward(logits, log_z, targets, weight, scale):
    """-> ∂L/∂logits (..., V) = (softmax(logits) - onehot(targets)) · weight · scale,
    where ``scale`` is a one-element array (G / Σ m), read on the device."""
    xp = get_array_module(logits)
    V = logits.shape[-1]
    logits = xp.ascontiguousarray(logits)
    log_z = xp.ascontiguousarray(log_z, dtype=logits.dtype)
    ids = xp.ascontiguousarray(targets, dtype=xp.int64)
    weight = xp.ascontiguousarray(weight, dtype=logits.dtype)
    scale = xp.ascontiguousarray(scale, dtype=logits.dtype).reshape(1)
    g = xp.empty(logits.shape, dtype=logits.dtype)
    kernel = build.compiled(SOURCE, "softmax_cross_entropy_backward", logits.dtype,
                            "cross_entropy")
    build.launch(kernel, g.size, logits, log_z, ids, weight, scale, g, V)
    return g
