"""Large products shared in chunks among threads (nnscratch/products.py): the same
product, cut along the longer side of the output, and never waiting for a thread that
is not running."""
import threading

import numpy as np
import pytest

from nnscratch import products
from nnscratch.functions.linear import Linear
from nnscratch.threads import use_threads

rng = np.random.default_rng(0)


@pytest.fixture
def shared():
    with use_threads(2, shared=True):
        yield


def chunked(monkeypatch):
    """Record each shared product's chunks: [(by_rows, chunk count)]."""
    seen, init = [], products._Product.__init__

    def spy(self, a, b, out, chunks, by_rows):
        seen.append((by_rows, len(chunks)))
        init(self, a, b, out, chunks, by_rows)
    monkeypatch.setattr(products._Product, "__init__", spy)
    return seen


@pytest.mark.parametrize("shape, by_rows", [((840, 256, 300), True),     # more rows: cut rows
                                             ((256, 840, 2539), False)])  # more columns
def test_a_shared_product_equals_the_whole_one(shared, monkeypatch, shape, by_rows):
    M, K, N = shape
    a = rng.standard_normal((M, K), dtype=np.float32)
    b = rng.standard_normal((K, N), dtype=np.float32)
    seen = chunked(monkeypatch)
    got = products.matmul(a, b.T.copy().T)          # a transposed view is cut as well
    assert len(seen) == 1 and seen[0][0] == by_rows and seen[0][1] >= 2
    assert seen[0][1] % 2 == 0                       # a multiple of the threads
    with use_threads(1):
        whole = a @ b
    np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-4)


def test_small_products_and_other_arrays_are_not_shared(shared, monkeypatch):
    seen = chunked(monkeypatch)
    small = rng.standard_normal((40, 256), dtype=np.float32)
    W = rng.standard_normal((256, 1024), dtype=np.float32)
    np.testing.assert_array_equal(products.matmul(small, W), small @ W)
    batched = rng.standard_normal((4, 300, 300), dtype=np.float32)
    assert products.matmul(batched, batched).shape == (4, 300, 300)
    ints = np.ones((600, 600), dtype=np.int64)
    assert products.matmul(ints, ints)[0, 0] == 600
    halves = np.ones((600, 600), dtype=np.float16)               # no BLAS for float16
    assert products.matmul(halves, halves)[0, 0] == 600
    assert seen == []


def test_nothing_is_shared_unless_asked(monkeypatch):
    seen = chunked(monkeypatch)
    a = rng.standard_normal((840, 2539), dtype=np.float32)
    with use_threads(2):
        products.matmul(a, a.T)
    assert seen == []


def test_the_caller_does_every_chunk_when_its_helper_is_held(shared):
    """A helper that does not run (here: stuck in other work) takes no chunk, and the
    caller finishes the product alone instead of waiting for it."""
    release, started = threading.Event(), threading.Event()

    class Stuck:
        def work(self):
            started.set()
            release.wait()
    products._helpers[0].put(Stuck())
    assert started.wait(10)
    a = rng.standard_normal((840, 1024), dtype=np.float32)
    b = rng.standard_normal((1024, 512), dtype=np.float32)
    done = []
    caller = threading.Thread(target=lambda: done.append(products.matmul(a, b)))
    caller.start()
    caller.join(30)
    try:
        assert done, "the product waited for a helper that never ran"
        np.testing.assert_allclose(done[0], a @ b, rtol=1e-5, atol=1e-4)
    finally:
        release.set()


def test_an_error_in_a_chunk_reaches_the_caller_and_the_helpers_live_on(shared, monkeypatch):
    a = rng.standard_normal((840, 1024), dtype=np.float32)
    b = rng.standard_normal((1024, 512), dtype=np.float32)
    failing = iter([MemoryError("no room for a chunk")])

    def matmul(x, y, out):
        error = next(failing, None)
        if error is not None:
            raise error
        return original(x, y, out=out)
    original = np.matmul
    monkeypatch.setattr(products.np, "matmul", matmul)
    with pytest.raises(MemoryError, match="no room for a chunk"):
        products.matmul(a, b)
    monkeypatch.setattr(products.np, "matmul", original)
    np.testing.assert_allclose(products.matmul(a, b), a @ b, rtol=1e-5, atol=1e-4)


def test_a_layer_gives_the_same_gradients_with_its_products_shared(shared):
    x = rng.standard_normal((600, 512), dtype=np.float32)
    W = rng.standard_normal((512, 1024), dtype=np.float32)
    b = rng.standard_normal(1024, dtype=np.float32)
    gy = rng.standard_normal((600, 1024), dtype=np.float32)
    layer = Linear()
    layer.needs_grad = (True, True, True)
    y, grads = layer.forward(x, W, b), layer.backward(gy)
    with use_threads(1):
        for got, want in zip((y, *grads), (x @ W + b, gy @ W.T, x.T @ gy, gy.sum(axis=0))):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
