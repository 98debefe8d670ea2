"""Every op of the library as a plain function (``import nnscratch.functional as F``).

Each takes Tensors or arrays and returns Tensors; the Function classes that
do the work, forward and backward side by side, live in ``functions/``.
"""
from .functions.activation import relu, sigmoid, tanh
from .functions.arithmetic import add, div, matmul, mul, neg, sub
from .functions.dropout import dropout
from .functions.linear import linear
from .functions.shape import concat, getitem, reshape, sum, transpose  # noqa: A004

__all__ = [
    "add", "sub", "mul", "div", "neg", "matmul", "getitem",
    "reshape", "transpose", "concat", "sum",
    "relu", "sigmoid", "tanh", "dropout", "linear",
]
