"""Shared fixtures: ``xp`` runs a test on NumPy and, where a GPU is present,
on CuPy; tests marked ``gpu`` skip cleanly without one."""
import numpy as np
import pytest

from nnscratch.backend import cupy, gpu_available

BACKENDS = [pytest.param(np, id="numpy"),
            pytest.param(cupy, id="cupy", marks=pytest.mark.gpu)]


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module a test runs on."""
    return request.param


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and cupy")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
