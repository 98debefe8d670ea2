"""Shared fixtures: ``xp`` runs a test on NumPy and, where a GPU is present,
on CuPy; tests marked ``gpu`` skip cleanly without one. The whole suite runs
NumPy's products on one BLAS thread (``one_blas_thread``)."""
import numpy as np
import pytest

import nnscratch.threads as threads
from nnscratch.backend import cupy, gpu_available
from nnscratch.threads import use_threads

BACKENDS = [pytest.param(np, id="numpy"),
            pytest.param(cupy, id="cupy", marks=pytest.mark.gpu)]


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module a test runs on."""
    return request.param


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    """One BLAS thread here and in the commands the tests start (OPENBLAS_NUM_THREADS),
    whatever the machine's load: the commands' own choice, the idle cores
    (nnscratch/threads.py), could differ between two runs that a test compares
    bit for bit."""
    with pytest.MonkeyPatch.context() as patch, use_threads(1):
        patch.setenv("OPENBLAS_NUM_THREADS", "1")
        yield


@pytest.fixture
def follower_calls(monkeypatch):
    """The list that each check of a command's load follower (nnscratch.threads.
    LoadFollower) appends to, on a machine made to look idle; the checks change nothing."""
    calls = []
    monkeypatch.setattr(threads.LoadFollower, "__call__",
                        lambda self: calls.append(1) or (1, False))
    monkeypatch.setattr(threads, "idle_cores", lambda: 2.0)
    return calls


def pytest_collection_modifyitems(config, items):
    if gpu_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and cupy")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
