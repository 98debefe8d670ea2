"""The autodiff core: ``Tensor``, ``Function`` and reverse-mode backpropagation.

Thesis §3.2.3 (backpropagation): a network is a composition of functions,
``f(x; θ) = f⁽ⁿ⁾(f⁽ⁿ⁻¹⁾(… f⁽¹⁾(x; θ) …))`` (eq. 3.1), and the gradient of the
loss with respect to every parameter follows from the chain rule applied from
the loss backwards. Here every operation is a ``Function`` with a ``forward``
on arrays and a hand-written ``backward`` beside it; calling a Function on
Tensors records it as the ``creator`` of its outputs, so the graph of a
computation is built as it runs. ``Tensor.backward`` sorts that graph
topologically and walks it in reverse, adding up the gradient of a tensor
used more than once.
"""
import contextlib
import weakref

import numpy as np

from .backend import get_array_module, to_cpu, to_gpu

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Within this block, operations record no graph (evaluation, decoding)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


class Tensor:
    """An array with an optional gradient and the Function that made it.

    ``data`` is a NumPy or CuPy array; ``grad`` is filled by ``backward`` on
    tensors that require it and were not computed from others (the leaves:
    inputs and parameters), and is added to on every further backward.
    """

    __array_priority__ = 100  # ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        xp = get_array_module(data)
        self.data = data if isinstance(data, xp.ndarray) else np.asarray(data)
        self.grad = None
        self.requires_grad = requires_grad
        self.creator = None

    # -- what an array has -------------------------------------------------
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}{flag})"

    def numpy(self):
        """The data as a NumPy array (copied from the GPU if needed)."""
        return to_cpu(self.data)

    def item(self):
        return self.data.item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def to_gpu(self):
        """Move data (and grad) to the GPU in place; returns self."""
        self.data = to_gpu(self.data)
        if self.grad is not None:
            self.grad = to_gpu(self.grad)
        return self

    def to_cpu(self):
        """Move data (and grad) to the host in place; returns self."""
        self.data = to_cpu(self.data)
        if self.grad is not None:
            self.grad = to_cpu(self.grad)
        return self

    # -- operators (the Functions live in functions/arithmetic.py, shape.py) --
    def __add__(self, other):
        return _arithmetic.add(self, other)

    def __radd__(self, other):
        return _arithmetic.add(other, self)

    def __sub__(self, other):
        return _arithmetic.sub(self, other)

    def __rsub__(self, other):
        return _arithmetic.sub(other, self)

    def __mul__(self, other):
        return _arithmetic.mul(self, other)

    def __rmul__(self, other):
        return _arithmetic.mul(other, self)

    def __truediv__(self, other):
        return _arithmetic.div(self, other)

    def __rtruediv__(self, other):
        return _arithmetic.div(other, self)

    def __neg__(self):
        return _arithmetic.neg(self)

    def __matmul__(self, other):
        return _arithmetic.matmul(self, other)

    def __rmatmul__(self, other):
        return _arithmetic.matmul(other, self)

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    @property
    def T(self):
        return _shape.transpose(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _shape.reshape(self, tuple(shape))

    def sum(self, axis=None, keepdims=False):
        return _shape.sum(self, axis, keepdims)

    # -- backpropagation (thesis §3.2.3) ----------------------------------
    def backward(self, grad=None):
        """Backpropagate from this tensor, adding into the leaves' ``.grad``.

        ``grad`` is the gradient of the final objective with respect to this
        tensor (the same shape); it defaults to ones, so ``loss.backward()``
        on a scalar loss gives d loss / d θ.
        """
        xp = get_array_module(self.data)
        grad = xp.ones_like(self.data) if grad is None else _as_array(grad, self.data)
        if grad.shape != self.shape:
            raise ValueError(f"backward: grad has shape {grad.shape}, tensor has {self.shape}")
        if self.creator is None:
            _accumulate_leaf(self, grad)
            return
        grads = {id(self): grad}
        for function in _topological_order(self.creator):
            outputs = [ref() for ref in function.outputs]
            grad_outputs = [grads.pop(id(y), None) if y is not None else None for y in outputs]
            if all(g is None for g in grad_outputs):
                continue
            grad_outputs = [xp.zeros(shape, dtype) if g is None else g
                            for g, (shape, dtype) in zip(grad_outputs, function.output_meta)]
            grad_inputs = function.backward(*grad_outputs)
            if not isinstance(grad_inputs, tuple):
                grad_inputs = (grad_inputs,)
            for x, gx in zip(function.inputs, grad_inputs):
                if gx is None or not x.requires_grad:
                    continue
                if x.creator is None:
                    _accumulate_leaf(x, gx)
                elif id(x) in grads:
                    grads[id(x)] = grads[id(x)] + gx
                else:
                    grads[id(x)] = gx


def _as_array(value, like):
    xp = get_array_module(like)
    return xp.asarray(value.data if isinstance(value, Tensor) else value, dtype=like.dtype)


def _accumulate_leaf(tensor, grad):
    if tensor.requires_grad:
        tensor.grad = grad if tensor.grad is None else tensor.grad + grad


def _topological_order(root):
    """Functions reachable from ``root``, each after every Function that uses
    its outputs (an iterative depth-first search; reversed post-order)."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        function, expanded = stack.pop()
        if expanded:
            order.append(function)
            continue
        if id(function) in visited:
            continue
        visited.add(id(function))
        stack.append((function, True))
        for x in function.inputs:
            if x.creator is not None and id(x.creator) not in visited:
                stack.append((x.creator, False))
    return reversed(order)


def as_tensor(value, like=None):
    """``value`` as a Tensor; a Python number takes the dtype of ``like``."""
    if isinstance(value, Tensor):
        return value
    if like is not None and np.isscalar(value):
        return Tensor(_as_array(value, like.data))
    return Tensor(value)


class Function:
    """One differentiable operation: ``forward`` on arrays, ``backward`` beside it.

    Subclasses implement ``forward(*arrays) -> array or tuple of arrays`` and
    store, as named attributes, what ``backward`` needs; ``backward(*grad_outputs)``
    returns one gradient per input (``None`` where an input needs none); an
    output that received no gradient is given zeros.
    ``self.needs_grad[i]`` tells whether input ``i`` wants a gradient, so that
    expensive ones can be skipped. Settings that are not differentiable
    (stride, targets, a dropout mask's probability) go to ``__init__``.
    """

    def __call__(self, *inputs):
        inputs = [as_tensor(x) for x in inputs]
        self.needs_grad = tuple(_grad_enabled and x.requires_grad for x in inputs)
        outputs = self.forward(*[x.data for x in inputs])
        single = not isinstance(outputs, tuple)
        outputs = [Tensor(y) for y in ((outputs,) if single else outputs)]
        if any(self.needs_grad):
            self.inputs = inputs
            self.outputs = [weakref.ref(y) for y in outputs]
            self.output_meta = [(y.shape, y.dtype) for y in outputs]
            for y in outputs:
                y.requires_grad = True
                y.creator = self
        return outputs[0] if single else tuple(outputs)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError


# The operator methods above call these; imported last because they import us.
from .functions import arithmetic as _arithmetic  # noqa: E402
from .functions import shape as _shape  # noqa: E402
