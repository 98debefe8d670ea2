"""nnscratch: a small autodiff library in NumPy (and CuPy on a GPU), written
to be read beside the thesis. See ``core`` for Tensor and backpropagation,
``functional`` for the ops, ``layers`` for modules, ``optim`` for optimizers."""
from .core import Function, Tensor, no_grad

__all__ = ["Tensor", "Function", "no_grad"]
