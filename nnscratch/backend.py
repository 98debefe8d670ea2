"""The array backend: NumPy on the CPU, CuPy on the GPU (thesis §4.2–4.3).

This is the only module of ``nnscratch`` that imports cupy. The import is
guarded: without cupy, or with cupy but no usable device, everything runs on
NumPy and nothing fails at import time. Code elsewhere asks
``xp = get_array_module(x)`` and writes the same lines for both libraries.
"""
import numpy as np

try:  # pragma: no cover - depends on the machine
    import cupy
    cupy.cuda.runtime.getDeviceCount()
except Exception:  # no cupy, no driver, or no device
    cupy = None


def gpu_available():
    """True when cupy imported and a CUDA device answered."""
    return cupy is not None


def get_array_module(*arrays):
    """``cupy`` if any of ``arrays`` lives on the GPU, else ``numpy``."""
    if cupy is not None:
        return cupy.get_array_module(*arrays)
    return np


class GPUUnavailable(RuntimeError):
    """The GPU was asked for and none is usable here."""


def require_gpu():
    """Raise GPUUnavailable, saying what to do, when the GPU is asked for and none is there."""
    if cupy is None:
        raise GPUUnavailable(
            "device 'gpu' was asked for, but no CUDA device is usable here "
            "(install the 'gpu' extra, cupy-cuda13x, on a machine with an "
            "NVIDIA GPU, or use --device cpu)")


def to_gpu(array):
    """Copy a NumPy array to the GPU (a CuPy array is returned as is)."""
    require_gpu()
    return cupy.asarray(array)


def to_cpu(array):
    """Copy a CuPy array to the host (a NumPy array is returned as is)."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return np.asarray(array)
