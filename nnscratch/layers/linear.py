"""The fully-connected (FC) layer of thesis §3.2.1 and §3.4: y = x W + b."""
import numpy as np

from .. import functional as F
from .init import default_rng, he_normal
from .module import Module, Parameter


class Linear(Module):
    """y = x W + b, with x (..., D), W (D, M), b (M,) -> y (..., M).

    D input features, M output features; any leading axes of x (a batch N,
    or N and time T) are kept. W is He-normal initialised, N(0, 2 / D)
    (see ``init.py``), drawn from ``rng`` (a NumPy Generator; None: a fresh
    one); b starts at zero. Both are float32.
    """

    def __init__(self, in_features, out_features, bias=True, rng=None):
        super().__init__()
        rng = default_rng(rng)
        self.W = Parameter(he_normal((in_features, out_features), in_features, rng))
        self.b = Parameter(np.zeros(out_features, np.float32)) if bias else None

    def forward(self, x):
        if x.ndim == 2:
            return F.linear(x, self.W, self.b)
        y = F.linear(F.reshape(x, (-1, x.shape[-1])), self.W, self.b)
        return F.reshape(y, x.shape[:-1] + (y.shape[-1],))

    def extra_repr(self):
        D, M = self.W.shape
        return f"{D}, {M}, bias={self.b is not None}"
