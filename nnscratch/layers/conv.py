"""The convolutional layer of a CNN (thesis §3.4, Fig. 3.4)."""
import numpy as np

from .. import functional as F
from .init import default_rng, he_normal
from .module import Module, Parameter


class Conv2d(Module):
    """y = conv(x, W) + b: x (N, C, H, W) -> y (N, F, H', W').

    C input channels, F output channels (filters), KH×KW kernel; W has shape
    (F, C, KH, KW), b (F,). ``kernel_size``, ``stride`` and ``pad`` are ints
    or (vertical, horizontal) pairs. W is He-normal initialised,
    N(0, 2 / (C·KH·KW)) (see ``init.py``), drawn from ``rng`` (a NumPy
    Generator; None: a fresh one); b starts at zero. Both are float32.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, pad=0,
                 bias=True, rng=None):
        super().__init__()
        rng = default_rng(rng)
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        shape = (out_channels, in_channels, kh, kw)
        self.W = Parameter(he_normal(shape, in_channels * kh * kw, rng))
        self.b = Parameter(np.zeros(out_channels, np.float32)) if bias else None
        self.stride, self.pad = stride, pad

    def forward(self, x):
        return F.conv2d(x, self.W, self.b, stride=self.stride, pad=self.pad)

    def extra_repr(self):
        out_channels, in_channels, kh, kw = self.W.shape
        return (f"{in_channels}, {out_channels}, kernel_size=({kh}, {kw}), "
                f"stride={self.stride}, pad={self.pad}, bias={self.b is not None}")
