"""Ops that move, select or add up elements without other arithmetic:
reshape, transpose, indexing, concatenation and sums. Their backward passes
put each gradient element back where its forward element came from."""
import numpy as np

from ..backend import get_array_module
from ..core import Function


class Reshape(Function):
    """y = x viewed with another shape of the same size."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.input_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view an input of shape {x.shape} "
                             f"as {self.shape}") from None

    def backward(self, gy):
        return gy.reshape(self.input_shape)


class Transpose(Function):
    """y = x with its axes permuted (reversed when ``axes`` is None)."""

    def __init__(self, axes=None):
        self.axes = None if axes is None else tuple(axes)

    def forward(self, x):
        if self.axes is not None and sorted(a % x.ndim for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {self.axes} do not permute the "
                             f"{x.ndim} axes of an input of shape {x.shape}")
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        xp = get_array_module(gy)
        return gy.transpose(xp.argsort(xp.asarray([a % gy.ndim for a in self.axes])).tolist())


class GetItem(Function):
    """y = x[index]; the gradient is scattered back, repeated indices adding up.

    Three ways back, by the index: basic (integers, slices, None, ...), which
    picks each element at most once, is a plain assignment; an integer array,
    which picks whole rows of x (repeats allowed: the five sentences of an
    image), is ``add.at`` on one flat index per element, NumPy's fast 1-d
    path (as nnscratch/functions/embedding.py does: 2.0 against 13 ms for 25
    rows of (196, 128)); any other, ``add.at`` itself.
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.input_shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.input_shape, self.dtype)
        if _basic(self.index):
            gx[self.index] = gy
        elif getattr(self.index, "dtype", None) is not None and self.index.dtype.kind in "iu":
            N, row = self.input_shape[0], gx[0].size if gx.ndim > 1 else 1
            rows = xp.asarray(self.index).reshape(-1, 1) % N   # negative rows count from the end
            cells = (rows * row + xp.arange(row)).reshape(-1)
            xp.add.at(gx.reshape(-1), cells, gy.reshape(-1))
        else:
            xp.add.at(gx, self.index, gy)
        return gx


def _basic(index):
    """Whether ``index`` is NumPy basic indexing (integers, slices, None, ...; no arrays,
    no lists, no booleans): it picks every element at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(part is None or part is Ellipsis
               or (isinstance(part, (slice, int, np.integer)) and not isinstance(part, bool))
               for part in parts)


class Concat(Function):
    """y = [x₁ x₂ …] joined along ``axis``; the gradient is split back."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = get_array_module(*xs)
        others = [x.shape[:self.axis % x.ndim] + x.shape[self.axis % x.ndim + 1:] for x in xs]
        if any(o != others[0] or x.ndim != xs[0].ndim for o, x in zip(others, xs)):
            raise ValueError(f"concat: shapes {[x.shape for x in xs]} differ outside axis {self.axis}")
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        bounds = list(xp.cumsum(xp.asarray(self.sizes))[:-1].tolist())
        return tuple(xp.split(gy, bounds, axis=self.axis))


class Sum(Function):
    """y = Σ x over ``axis`` (all axes when None); ∂y/∂x = 1, broadcast back."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.input_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        xp = get_array_module(gy)
        if not self.keepdims and self.axis is not None:
            axes = (self.axis,) if isinstance(self.axis, int) else self.axis
            gy = xp.expand_dims(gy, tuple(sorted(a % len(self.input_shape) for a in axes)))
        return xp.broadcast_to(gy, self.input_shape).copy()


def reshape(x, shape):
    """x (any shape) -> the same elements in ``shape`` (one -1 allowed)."""
    return Reshape(shape)(x)


def transpose(x, axes=None):
    """Permute the axes of x (reverse them when ``axes`` is None)."""
    return Transpose(axes)(x)


def getitem(x, index):
    """x[index] with any NumPy index (slices, integer arrays, masks)."""
    return GetItem(index)(x)


def concat(xs, axis=0):
    """Join a list of tensors along ``axis``."""
    return Concat(axis)(*xs)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the name users expect
    """Σ x over ``axis`` (an int, a tuple, or None for all)."""
    return Sum(axis, keepdims)(x)
