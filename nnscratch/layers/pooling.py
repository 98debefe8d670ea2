"""Max pooling (the POOL layer of thesis §3.4), a layer without parameters."""
from .. import functional as F
from .module import Module


class MaxPool2d(Module):
    """y = the maximum of each KH×KW window: x (N, C, H, W) -> (N, C, H', W').

    ``kernel``, ``stride`` and ``pad`` are ints or (KH, KW)-style pairs;
    ``stride`` defaults to ``kernel``; ``ceil_mode`` rounds H' and W' up, so
    that a last, partial window is kept (as Caffe does).
    """

    def __init__(self, kernel, stride=None, pad=0, ceil_mode=False):
        super().__init__()
        self.kernel, self.stride, self.pad, self.ceil_mode = kernel, stride, pad, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel, stride=self.stride, pad=self.pad,
                            ceil_mode=self.ceil_mode)

    def extra_repr(self):
        return (f"kernel={self.kernel}, stride={self.stride}, pad={self.pad}, "
                f"ceil_mode={self.ceil_mode}")
