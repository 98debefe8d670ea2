"""What the timings were taken on: CPU, cores, NumPy's BLAS, PyTorch's threads, load."""
import os
import platform

import numpy as np
import torch

from .timing import load_average

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                  "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_model():
    """The 'model name' line of /proc/cpuinfo (the platform's name elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas():
    """NumPy's BLAS: threadpoolctl's view (library, kernel, threads) when it is
    installed, else the build configuration from ``numpy.show_config``."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"name": blas.get("name"), "version": blas.get("version"),
                "configuration": blas.get("openblas configuration")}
    return [{key: pool.get(key) for key in ("internal_api", "version", "architecture",
                                            "num_threads", "filepath")}
            for pool in threadpool_info() if pool.get("user_api") == "blas"]


def describe():
    """A dict for cpu.json and RESULTS.md."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": numpy_blas(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "environment": {name: os.environ.get(name) for name in BLAS_VARIABLES},
        "load_average": load_average(),
    }


def markdown(description):
    """``describe()`` as a Markdown list."""
    return "\n".join(f"- {key}: {value}" for key, value in description.items()) + "\n"
