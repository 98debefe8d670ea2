"""Every op of the library as a plain function (``import nnscratch.functional as F``).

Each takes Tensors or arrays and returns Tensors; the Function classes that
do the work, forward and backward side by side, live in ``functions/``.
"""
from .functions.activation import relu, sigmoid, tanh
from .functions.arithmetic import add, div, matmul, mul, neg, sub
from .functions.conv import conv2d
from .functions.dropout import dropout
from .functions.embedding import embedding
from .functions.linear import linear
from .functions.loss import cross_entropy, ranking_loss
from .functions.normalize import l2_normalize
from .functions.pooling import avg_pool2d, global_avg_pool2d, max_pool2d
from .functions.recurrent import lstm, lstm_step, rnn, rnn_step
from .functions.shape import concat, getitem, reshape, sum, transpose  # noqa: A004
from .functions.softmax import log_softmax, softmax

__all__ = [
    "add", "sub", "mul", "div", "neg", "matmul", "getitem",
    "reshape", "transpose", "concat", "sum",
    "relu", "sigmoid", "tanh", "dropout", "linear",
    "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
    "softmax", "log_softmax", "cross_entropy", "ranking_loss", "l2_normalize",
    "embedding", "rnn_step", "lstm_step", "rnn", "lstm",
]
