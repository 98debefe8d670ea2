"""Hand-written CUDA kernels for the GPU path (thesis §4.2–4.3).

The thesis trained on a GPU through Theano, CUDA and cuDNN; here the GPU
path is ours: CuPy arrays, these kernels for the layers, and cuBLAS (CuPy's
matrix product) for the products. Each ``.cu`` file of this folder is one
family of kernels, templated on the element type (float or double) and
compiled once, on first use (``build.py``):

    im2col.cu                  im2col, col2im                     (convolution)
    max_pool.cu                max-pool forward with argmax, backward
    lstm.cu                    the fused LSTM cell, forward and backward
    softmax_cross_entropy.cu   cross-entropy with a mask, loss terms and gradient
    dropout.cu, relu.cu        output and mask in one pass

The Functions of ``nnscratch.functions`` call these wrappers in their GPU
branch (``if on_gpu(x): ...``) and keep their NumPy code for the CPU; every
wrapper takes and returns CuPy arrays with the shapes and layouts of the
NumPy path, so the two agree to rounding (tests/test_kernels.py).
"""
import numpy as np

from ..backend import get_array_module
from .conv import col2im, im2col
from .cross_entropy import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .elementwise import dropout, relu
from .lstm import lstm_cell_forward, lstm_gates_backward
from .pooling import max_pool_backward, max_pool_forward

__all__ = ["on_gpu", "im2col", "col2im", "max_pool_forward", "max_pool_backward",
           "lstm_cell_forward", "lstm_gates_backward", "softmax_cross_entropy_forward",
           "softmax_cross_entropy_backward", "dropout", "relu"]


def on_gpu(array):
    """True when ``array`` is a CuPy array: the Functions then take their kernel branch."""
    return get_array_module(array) is not np
