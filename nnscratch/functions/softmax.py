"""Softmax and log-softmax (thesis §3.4: the classifier on top of the CNN;
§3.7: the distribution over the next word).

    softmax(x)_j = exp(x_j) / Σ_k exp(x_k)
    log_softmax(x)_j = x_j - log Σ_k exp(x_k)

Both are computed on ``x - max(x)``: the result is the same, and ``exp`` can
no longer overflow (the largest exponent is 0) nor give 0 / 0.
"""
from ..backend import get_array_module
from ..core import Function


def shifted_exp(x, axis=-1):
    """(e, Σ e, max x) along ``axis`` (Σ e and max x kept as length 1) for an
    array x (no graph): e = exp(x - max x), so that

        softmax(x) = e / Σ e,   log softmax(x) = (x - max x) - log Σ e.

    ``Softmax`` and the fused cross-entropy (``loss.py``) call it; four passes
    over x, one new array: e is exponentiated where it was shifted.
    """
    xp = get_array_module(x)
    largest = x.max(axis=axis, keepdims=True)
    e = xp.subtract(x, largest)
    xp.exp(e, out=e)
    return e, e.sum(axis=axis, keepdims=True), largest


def log_softmax_array(x, axis=-1):
    """log softmax of an array along ``axis``, with the shift of ``shifted_exp``:
    (x - max x) - log Σ exp(x - max x), in that order (max x + log Σ e, added
    first, would round away what is small beside a large max)."""
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


class Softmax(Function):
    """y = softmax(x) along ``axis``;  ∂L/∂x = y ⊙ (G - Σ_k G_k y_k)."""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        e, total, _ = shifted_exp(x, self.axis)
        e /= total
        self.y = e
        return self.y

    def backward(self, gy):
        return self.y * (gy - (gy * self.y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y = log softmax(x) along ``axis``;  ∂L/∂x = G - softmax(x) Σ_k G_k."""

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        self.y = log_softmax_array(x, self.axis)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


def softmax(x, axis=-1):
    """Probabilities along ``axis`` (any shape; each slice sums to 1)."""
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """Log-probabilities along ``axis`` (any shape), computed stably."""
    return LogSoftmax(axis)(x)
