"""Compiling the CUDA sources of this folder once, and launching their kernels.

Each ``.cu`` file defines kernel templates over the element type ``T``.
``compiled(source, name, dtype, op)`` returns ``name<float>`` or
``name<double>`` as a ``cupy.RawKernel``. CuPy compiles a file with NVRTC the
first time one of its kernels is asked for (so importing nnscratch needs
neither cupy nor a GPU); the compiled module is then kept in ``_modules`` for
the life of the process, and CuPy also caches the binary on disk.

``KERNELS`` lists every source and the templates it defines: the loader asks
NVRTC for exactly these instantiations, and the compile test
(tests/test_kernels_compile.py) builds the same ones with ``nvcc``.
"""
from pathlib import Path

import numpy as np

from ..backend import cupy

FOLDER = Path(__file__).resolve().parent

KERNELS = {
    "im2col.cu": ("im2col", "col2im"),
    "max_pool.cu": ("max_pool_forward", "max_pool_backward"),
    "lstm.cu": ("lstm_cell_forward", "lstm_gates_backward"),
    "softmax_cross_entropy.cu": ("softmax_cross_entropy_forward",
                                 "softmax_cross_entropy_backward"),
    "dropout.cu": ("dropout_forward",),
    "relu.cu": ("relu_forward",),
}

C_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

THREADS = 256  # threads per block of the grid-stride kernels
MAX_BLOCKS = 65536  # past THREADS·MAX_BLOCKS elements, each thread loops over several

_modules = {}  # source file -> cupy.RawModule, filled on first use


def name_expressions(source):
    """The instantiations of ``source``'s templates: "im2col<float>", "im2col<double>", ..."""
    return [f"{name}<{c_type}>" for name in KERNELS[source] for c_type in C_TYPES.values()]


def c_type(dtype, source, op):
    """"float" or "double", the T of ``source``'s kernels for ``dtype``; any
    other dtype raises a ValueError naming the operation ``op``."""
    if np.dtype(dtype) not in C_TYPES:
        raise ValueError(f"{op}: the CUDA kernel ({source}) takes float32 or float64 "
                         f"arrays, got {np.dtype(dtype)}")
    return C_TYPES[np.dtype(dtype)]


def compiled(source, name, dtype, op):
    """The kernel ``name<T>`` of ``source`` for arrays of ``dtype`` (see ``c_type``)."""
    t = c_type(dtype, source, op)
    if source not in _modules:
        _modules[source] = cupy.RawModule(code=(FOLDER / source).read_text(),
                                          name_expressions=name_expressions(source))
    return _modules[source].get_function(f"{name}<{t}>")


def launch(kernel, total, *args):
    """Run a grid-stride ``kernel`` over ``total`` elements.

    Its arguments are ``args`` followed by ``long long total``. Arrays pass as
    pointers, Python ints as C ``int``, NumPy scalars as their own C type.
    """
    args = tuple(np.int32(a) if isinstance(a, int) else a for a in args)
    blocks = min(max(1, -(-total // THREADS)), MAX_BLOCKS)
    kernel((blocks,), (THREADS,), args + (np.int64(total),))
