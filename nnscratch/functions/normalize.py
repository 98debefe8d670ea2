"""Vectors scaled to unit length (beyond the thesis: Kiros et al. 2014 score an
image against a sentence by the cosine v̂ᵀŝ, the dot product of eq. 3.6
between unit vectors, so that no pair wins by length alone).

    y = x / ‖x‖                      along ``axis`` (‖x‖ at least ``eps``)
    ∂L/∂x = (G − y (yᵀG)) / ‖x‖      the part of G across y, shrunk by ‖x‖

(for ‖x‖ below ``eps``, y = x / eps and ∂L/∂x = G / eps).
"""
from ..backend import get_array_module
from ..core import Function


class L2Normalize(Function):
    """y = x / max(‖x‖, eps) along ``axis``."""

    def __init__(self, axis=-1, eps=1e-8):
        self.axis, self.eps = axis, eps

    def forward(self, x):
        xp = get_array_module(x)
        self.length = xp.sqrt((x * x).sum(axis=self.axis, keepdims=True))
        self.scale = xp.maximum(self.length, self.eps)
        self.y = x / self.scale
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        across = gy - self.y * (self.y * gy).sum(axis=self.axis, keepdims=True)
        return xp.where(self.length > self.eps, across, gy) / self.scale


def l2_normalize(x, axis=-1, eps=1e-8):
    """x scaled to unit Euclidean length along ``axis`` (any shape)."""
    return L2Normalize(axis, eps)(x)
