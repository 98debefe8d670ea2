"""Inverted dropout (thesis §3.4; Srivastava et al. 2014).

In training each unit is kept with probability 1 - p and the kept ones are
scaled by 1 / (1 - p), so that the expected activation is unchanged and
evaluation needs no rescaling: at test time dropout is the identity.
"""
from .. import kernels
from ..backend import get_array_module
from ..core import Function, as_tensor


class Dropout(Function):
    """y = x ⊙ m / (1 - p), m_i ~ Bernoulli(1 - p);  ∂y/∂x = m / (1 - p)."""

    def __init__(self, p, rng=None):
        self.p, self.rng = p, rng

    def forward(self, x):
        xp = get_array_module(x)
        uniform = (self.rng if self.rng is not None else xp.random).random(x.shape)
        if kernels.on_gpu(x):  # output and mask in one kernel: nnscratch/kernels/dropout.cu
            y, self.mask = kernels.dropout(x, xp.asarray(uniform), self.p)
            return y
        self.mask = (xp.asarray(uniform) >= self.p).astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.mask

    def backward(self, gy):
        return gy * self.mask


def dropout(x, p, train, rng=None):
    """Inverted dropout with drop probability ``p``; identity unless ``train``.

    ``rng`` (a NumPy ``Generator`` or CuPy ``RandomState``) makes the masks
    reproducible; the library's global generator is used when it is None.
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not train or p == 0:
        return as_tensor(x)
    return Dropout(p, rng)(x)
