"""Elementwise arithmetic and the matrix product, with NumPy broadcasting.

When an operand was broadcast in the forward pass (a bias of shape (M,) added
to (N, M)), its gradient is the upstream gradient summed over the broadcast
axes: ``sum_to`` undoes the broadcast.
"""
from .. import products
from ..backend import get_array_module
from ..core import Function, as_tensor


def sum_to(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, to ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


class Add(Function):
    """y = a + b"""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    """y = a - b"""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy):
        return sum_to(gy, self.shapes[0]), sum_to(-gy, self.shapes[1])


class Mul(Function):
    """y = a ⊙ b;  ∂y/∂a = b, ∂y/∂b = a"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        return sum_to(gy * self.b, self.a.shape), sum_to(gy * self.a, self.b.shape)


class Div(Function):
    """y = a / b;  ∂y/∂a = 1/b, ∂y/∂b = -a/b²"""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        ga = gy / self.b
        return sum_to(ga, self.a.shape), sum_to(-ga * self.a / self.b, self.b.shape)


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class MatMul(Function):
    """Y = A B for A (..., N, K), B (K, M) or (..., K, M);
    ∂L/∂A = G Bᵀ, ∂L/∂B = Aᵀ G (summed over the batch axes B was broadcast on)."""

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not chain "
                             "(need (..., N, K) @ (..., K, M))")
        self.a, self.b = a, b
        return products.matmul(a, b)

    def backward(self, gy):
        xp = get_array_module(gy)
        ga = gb = None
        if self.needs_grad[0]:
            ga = sum_to(products.matmul(gy, xp.swapaxes(self.b, -1, -2)), self.a.shape)
        if self.needs_grad[1]:
            gb = sum_to(products.matmul(xp.swapaxes(self.a, -1, -2), gy), self.b.shape)
        return ga, gb


def _operands(a, b):
    """Tensors for a binary op; a Python number takes the other side's dtype."""
    if not hasattr(a, "shape"):
        b = as_tensor(b)
        return as_tensor(a, like=b), b
    a = as_tensor(a)
    return a, as_tensor(b, like=a)


def add(a, b):
    return Add()(*_operands(a, b))


def sub(a, b):
    return Sub()(*_operands(a, b))


def mul(a, b):
    return Mul()(*_operands(a, b))


def div(a, b):
    return Div()(*_operands(a, b))


def neg(x):
    return Neg()(x)


def matmul(a, b):
    """Matrix product ``a @ b`` (see MatMul)."""
    return MatMul()(a, b)
