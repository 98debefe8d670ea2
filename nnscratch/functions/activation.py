"""Elementwise non-linearities (thesis §3.2.1, §3.4): ReLU, sigmoid, tanh.

Each backward uses what forward already computed: ReLU its mask, sigmoid
and tanh their own output."""
from .. import kernels
from ..backend import get_array_module
from ..core import Function


class ReLU(Function):
    """y = max(0, x);  ∂y/∂x = 1 where x > 0, else 0."""

    def forward(self, x):
        if kernels.on_gpu(x):  # output and mask in one kernel: nnscratch/kernels/relu.cu
            y, self.mask = kernels.relu(x)
            return y
        self.mask = x > 0 if self.needs_grad[0] else None  # no mask when no gradient
        return get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        return gy * self.mask


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ);  ∂y/∂x = y (1 - y)."""

    def forward(self, x):
        xp = get_array_module(x)
        self.y = 0.5 * xp.tanh(0.5 * x) + 0.5  # the same σ, with no overflow
        return self.y

    def backward(self, gy):
        return gy * self.y * (1 - self.y)


class Tanh(Function):
    """y = tanh(x);  ∂y/∂x = 1 - y²."""

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)


def relu(x):
    return ReLU()(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)
