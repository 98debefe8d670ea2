"""Large matrix products shared among threads that do not wait for each other.

A BLAS such as OpenBLAS cuts a product into one fixed part per thread and
waits at its end for the slowest part. When another process holds a core,
one of those threads is often not running, and the whole product waits for
the scheduler to give it back its turn (nnscratch/threads.py). Here a large
product is cut instead into small chunks (blocks of the output's rows or
columns, ~``CHUNK_FLOPS`` each), and the calling thread and its helpers take
the chunks in turn, each running its chunk on a one-thread BLAS. A thread
that is not running takes no new chunk: the others do its share, and the
product waits at most for the one chunk it holds. With two threads among
two busy processes on 2 cores, the products get the two threads' fair share
of the cores (one core) instead of one thread's (2/3 of one).

On idle cores the BLAS's own threads are faster (they share the packed
operands); ``nnscratch.threads.LoadFollower`` switches between the two as
the load changes. A shared product may differ from the whole one in its last
bits (a Flickr8k-scale step's gradients by up to 4e-9), as one on other
numbers of BLAS threads does.

    matmul(a, b)    a (M, K) @ b (K, N) -> (M, N), shared when ``share(n)`` is on
"""
import itertools
import queue
import threading

import numpy as np

# About 0.4 ms of one core's float32 products: the chunks are small enough that
# a product waits little for a thread that lost its core, and large enough that
# each repacking of the operand they share stays a few percent of the work.
CHUNK_FLOPS = 5e7
MIN_CHUNK = 16          # rows or columns in a chunk, at least

_helpers = []           # daemon threads, each reading jobs from its queue
_sharing = 1            # threads taking chunks, the caller included (1: no sharing)


class _Product:
    """One shared product: its chunks, handed out one at a time to whoever asks."""

    def __init__(self, a, b, out, chunks, by_rows):
        self.a, self.b, self.out, self.by_rows = a, b, out, by_rows
        self.chunks = chunks
        self._next = itertools.count()     # next() is atomic under the GIL
        self._left = len(chunks)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.error = None                  # what a chunk raised, raised again by the caller

    def work(self):
        """Take chunks until none is left; the last chunk done sets ``_done``."""
        for i in self._next:
            if i >= len(self.chunks):
                return
            s = self.chunks[i]
            try:
                if self.by_rows:
                    np.matmul(self.a[s], self.b, out=self.out[s])
                else:
                    np.matmul(self.a, self.b[:, s], out=self.out[:, s])
            except BaseException as error:    # a helper must not die holding a chunk
                self.error = error
            with self._lock:
                self._left -= 1
                if self._left == 0:
                    self._done.set()

    def result(self):
        """The product, once every chunk is done."""
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.out


def _helper(jobs):
    while True:
        jobs.get().work()


def share(threads):
    """From now on, large NumPy products are shared among ``threads`` threads (the
    caller and ``threads - 1`` helpers, started once); 1 turns sharing off. The BLAS
    should run on one thread meanwhile (LoadFollower sets both)."""
    global _sharing
    while len(_helpers) < threads - 1:
        jobs = queue.SimpleQueue()
        threading.Thread(target=_helper, args=(jobs,), daemon=True,
                         name=f"nnscratch-products-{len(_helpers) + 1}").start()
        _helpers.append(jobs)
    _sharing = threads


def sharing():
    """The threads that share large products now (1: none; the BLAS's own threads)."""
    return _sharing


def _chunks(length, flops, threads):
    """Slices of ``length`` rows or columns: chunks of CHUNK_FLOPS or more each, as many
    as a multiple of ``threads`` (fewer where MIN_CHUNK rows each would not allow it);
    None when the product is too small to share (fewer than two chunks)."""
    count = min(threads * int(flops // (threads * CHUNK_FLOPS)), length // MIN_CHUNK)
    if count < 2:
        return None
    step = -(-length // count)
    return [slice(start, min(start + step, length)) for start in range(0, length, step)]


def matmul(a, b):
    """a (M, K) @ b (K, N) -> (M, N). On NumPy while ``share(n)`` is on, a large
    float32 or float64 (BLAS) product is cut along the output's longer side, so that
    each chunk repacks the smaller operand, and its chunks go to the threads in turn;
    otherwise (and for any other arrays) ``a @ b``."""
    threads = _sharing
    if threads < 2 or type(a) is not np.ndarray or type(b) is not np.ndarray \
            or a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] \
            or a.dtype != b.dtype or a.dtype.char not in "fd":
        return a @ b
    (M, K), N = a.shape, b.shape[1]
    by_rows = M >= N
    chunks = _chunks(M if by_rows else N, 2 * M * K * N, threads)
    if chunks is None:
        return a @ b
    product = _Product(a, b, np.empty((M, N), dtype=a.dtype), chunks, by_rows)
    for jobs in _helpers[:threads - 1]:
        jobs.put(product)
    product.work()
    return product.result()
