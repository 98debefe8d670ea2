"""The fully-connected layer (thesis §3.2.1, §3.4): y = x W + b.

Shapes: N batch, D input features, M output features.
"""
from ..core import Function
from ..products import matmul


def affine(x, W, b=None):
    """x W + b (x W when b is None) as a new array, b added to the product in place."""
    y = matmul(x, W)
    if b is None:
        return y
    if b.dtype != y.dtype:  # let NumPy promote, as x W + b does
        return y + b
    y += b
    return y


class Linear(Function):
    """x (N, D), W (D, M), b (M,) -> y (N, M) = x W + b.

    ∂L/∂x = G Wᵀ,  ∂L/∂W = xᵀ G,  ∂L/∂b = Σ_n G_n.
    """

    def forward(self, x, W, b=None):
        if x.ndim != 2 or W.ndim != 2 or x.shape[1] != W.shape[0]:
            raise ValueError(f"linear: input of shape {x.shape} does not match "
                             f"weight of shape {W.shape} (need x (N, D), W (D, M))")
        if b is not None and b.shape != (W.shape[1],):
            raise ValueError(f"linear: bias has shape {b.shape}, weight {W.shape} "
                             f"needs ({W.shape[1]},)")
        self.x, self.W = x, W
        return affine(x, W, b)

    def backward(self, gy):
        gx = matmul(gy, self.W.T) if self.needs_grad[0] else None
        gW = matmul(self.x.T, gy) if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return gx, gW
        return gx, gW, gy.sum(axis=0)


def linear(x, W, b=None):
    """y = x W + b for x (N, D), W (D, M), b (M,) or None."""
    return Linear()(x, W) if b is None else Linear()(x, W, b)
