"""Run the CUDA kernels of ``nnscratch/kernels`` on the CPU, to test them without a GPU.

The ``.cu`` files are compiled by the host C++ compiler with a few macros
that stand in for CUDA: ``__global__`` and ``__device__`` vanish,
``threadIdx``/``blockIdx`` are thread-local, ``__shared__`` becomes
``static`` (one copy per block, since blocks run one after another) and
``__syncthreads()`` waits on a barrier of the block's threads. Every launch
runs each block as real threads (``std::thread``), so the grid-stride loops
and the block reductions execute as they would on a device, one block at a
time. What this cannot show: speed, memory coalescing, NVRTC's own quirks
(tests/test_kernels_compile.py compiles with nvcc for those) and anything
about warps.

``Emulator(folder, workdir).compiled(source, name, dtype, op)`` has the
signature of ``nnscratch.kernels.build.compiled`` and returns a callable
``kernel(grid, block, args)`` like a ``cupy.RawKernel``. It checks every
argument against the kernel's C parameter list (arrays: dtype and
contiguity; scalars: their exact NumPy type), so a wrapper that passes an
``int`` where the kernel reads a ``long long`` fails here rather than
reading garbage on a GPU.
"""
import ctypes
import re
import shutil
import subprocess

import numpy as np

from nnscratch.kernels import build

HOST_CUDA = r"""
#include <math.h>
#include <barrier>
#include <functional>
#include <thread>
#include <vector>

struct Index3 { unsigned x = 0, y = 0, z = 0; };
static thread_local Index3 threadIdx, blockIdx;
static Index3 blockDim, gridDim;
static std::barrier<>* block_barrier = nullptr;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() block_barrier->arrive_and_wait()

template <typename... Params, typename... Args>
static void emulate(void (*kernel)(Params...), unsigned blocks, unsigned threads, Args... args)
{
    blockDim.x = threads;
    gridDim.x = blocks;
    for (unsigned b = 0; b < blocks; ++b) {
        std::barrier<> barrier(threads);
        block_barrier = &barrier;
        std::vector<std::thread> block;
        for (unsigned t = 0; t < threads; ++t)
            block.emplace_back([=] { blockIdx.x = b; threadIdx.x = t; kernel(args...); });
        for (auto& thread : block) thread.join();
    }
}
"""

SIGNATURE = re.compile(r"template <typename T>\s*__global__ void (\w+)\(([^)]*)\)")
TYPE_T = re.compile(r"\bT\b")

# C type of a pointer's target -> the dtype its array must have
POINTERS = {"float": np.float32, "double": np.float64, "int": np.int32,
            "long long": np.int64, "bool": np.bool_}
# C type of a scalar -> (its ctypes type, the NumPy scalar type the wrapper must pass)
SCALARS = {"float": (ctypes.c_float, np.float32), "double": (ctypes.c_double, np.float64),
           "int": (ctypes.c_int, np.int32), "long long": (ctypes.c_longlong, np.int64)}


def parameters(source_text):
    """{kernel name: [(C type with T, parameter name), ...]} of every template kernel."""
    kernels = {}
    for name, params in SIGNATURE.findall(source_text):
        kernels[name] = [tuple(p.strip().rsplit(None, 1)) for p in params.split(",")]
    return kernels


def _bare(c_type, t):
    """'const T* __restrict__' with T = float -> ('float', True): base type, pointer?"""
    words = [w for w in c_type.replace("*", " * ").split() if w not in ("const", "__restrict__")]
    pointer = "*" in words
    base = " ".join(w for w in words if w != "*")
    return (t if base == "T" else base), pointer


class Emulator:
    """Every kernel of ``build.KERNELS`` in ``folder``, built into one shared
    library in ``workdir``, with an ``extern "C"`` entry point per instantiation."""

    def __init__(self, folder, workdir):
        compiler = shutil.which("g++")
        if compiler is None:
            raise FileNotFoundError("g++ is needed to emulate the CUDA kernels")
        self.signatures = {}
        entries = []
        includes = []
        for source in build.KERNELS:
            text = (folder / source).read_text()
            includes.append(f'#include "{folder / source}"')
            for name, params in parameters(text).items():
                for t in build.C_TYPES.values():
                    self.signatures[(name, t)] = [_bare(c_type, t) for c_type, _ in params]
                    declared = ", ".join(f"{TYPE_T.sub(t, c)} {p}" for c, p in params)
                    names = ", ".join(p for _, p in params)
                    entries.append(f'extern "C" void {name}__{t}(unsigned blocks, unsigned threads, '
                                   f'{declared}) {{ emulate({name}<{t}>, blocks, threads, {names}); }}')
        code = HOST_CUDA + "\n".join(includes) + "\n" + "\n".join(entries) + "\n"
        (workdir / "kernels.cpp").write_text(code)
        library = workdir / "kernels.so"
        result = subprocess.run([compiler, "-std=c++20", "-O0", "-shared", "-fPIC", "-pthread",
                                 str(workdir / "kernels.cpp"), "-o", str(library)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"g++ could not build the emulated kernels:\n{result.stderr}")
        self.library = ctypes.CDLL(str(library))

    def compiled(self, source, name, dtype, op):
        """Like ``build.compiled``: the same dtype check, then the host-compiled kernel."""
        t = build.c_type(dtype, source, op)
        if name not in build.KERNELS[source]:
            raise KeyError(f"{source} defines no kernel {name}")
        return EmulatedKernel(getattr(self.library, f"{name}__{t}"), name,
                              self.signatures[(name, t)])


class EmulatedKernel:
    """One instantiation, called as a ``cupy.RawKernel`` is: ``kernel(grid, block, args)``."""

    def __init__(self, function, name, signature):
        self.function, self.name, self.signature = function, name, signature
        function.restype = None
        function.argtypes = ([ctypes.c_uint, ctypes.c_uint]
                             + [ctypes.c_void_p if pointer else SCALARS[base][0]
                                for base, pointer in signature])

    def __call__(self, grid, block, args):
        if len(args) != len(self.signature):
            raise TypeError(f"{self.name}: {len(args)} arguments for "
                            f"{len(self.signature)} parameters")
        values = [self._check(i, a, base, pointer)
                  for i, (a, (base, pointer)) in enumerate(zip(args, self.signature))]
        self.function(grid[0], block[0], *values)

    def _check(self, i, value, base, pointer):
        where = f"{self.name}: argument {i}"
        if pointer:
            if not isinstance(value, np.ndarray):
                raise TypeError(f"{where} must be an array ({base}*), got {type(value).__name__}")
            if value.dtype != POINTERS[base] or not value.flags.c_contiguous:
                raise TypeError(f"{where} must be a contiguous {np.dtype(POINTERS[base])} "
                                f"array, got {value.dtype} (contiguous: {value.flags.c_contiguous})")
            return value.ctypes.data
        if type(value) is not SCALARS[base][1]:
            raise TypeError(f"{where} must be a {np.dtype(SCALARS[base][1])} scalar ({base}), "
                            f"got {type(value).__name__}")
        return value
