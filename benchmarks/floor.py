"""The floor of a row: the matrix products that our side computes, timed alone.

For GEMM-bound work the machine's limit is the time of the same products in
the same BLAS (NumPy's OpenBLAS), in the same run and under the same load;
ours / floor says how much our code spends around them (copies, elementwise
work, Python), where ours / PyTorch also carries the difference between
OpenBLAS and MKL (../shared/DESIGN.md, "The machine's own limit").

A computation's products are listed as (M, K, N) triples, each one float32
product (M, K) @ (K, N). ``Products(shapes)`` draws the operands once (one
set per distinct shape) and each call runs every product into a
preallocated output. The helpers below write out the products of ours for
each benchmarked op, as its code computes them (nnscratch/functions/).
"""
import numpy as np

from nnscratch.functions import winograd
from nnscratch.functions.chunks import row_chunks
from nnscratch.functions.conv import column_chunks


class Products:
    """A call that runs the products ``shapes`` [(M, K, N), ...] and nothing else."""

    def __init__(self, shapes, seed=0):
        rng = np.random.default_rng(seed)
        self.shapes = list(shapes)
        self.operands = {}
        for M, K, N in set(self.shapes):
            self.operands[M, K, N] = (rng.standard_normal((M, K), dtype=np.float32),
                                      rng.standard_normal((K, N), dtype=np.float32),
                                      np.empty((M, N), dtype=np.float32))

    def __call__(self):
        for shape in self.shapes:
            a, b, out = self.operands[shape]
            np.matmul(a, b, out=out)

    @property
    def flops(self):
        return sum(2 * M * K * N for M, K, N in self.shapes)


def linear(N, D, M, backward=False, input_gradient=True):
    """y = x W (N, D) @ (D, M); backward: ∂L/∂x = G Wᵀ (if asked) and ∂L/∂W = xᵀ G."""
    shapes = [(N, D, M)]
    if backward:
        shapes += [(N, M, D)] * input_gradient + [(D, N, M)]
    return shapes


def conv2d(N, C, F, out_size, kernel, backward=False, input_gradient=True, stride=1):
    """For each chunk of the columns (nnscratch.functions.conv.column_chunks: a few
    images, or a block of rows of one), y = W_mat (F, C·KH·KW) @ cols (C·KH·KW, L),
    L the chunk's output pixels, or Winograd's products where Conv2d.forward takes
    it (``winograd_products``); backward: ∂L/∂W += G colsᵀ and, if asked,
    ∂L/∂x's product, as many multiplications either way (W_matᵀ G for col2im, or
    the turned kernel's (C, F·KH·KW) @ (F·KH·KW, L))."""
    P, KK = out_size[0] * out_size[1], kernel[0] * kernel[1]
    if kernel == (1, 1):  # pointwise: one product per image
        pixels = [P] * N
    else:  # column_chunks reads only the shape and dtype of the array it is given
        images = np.empty((N, C, 0, 0), np.float32)
        pixels = [(i.stop - i.start) * (r.stop - r.start) * out_size[1]
                  for i, r in column_chunks(images, kernel, out_size)]
    # winograd.suits reads only shapes and types: an input as wide as the output, padded by 1
    shaped = np.empty((N, C, 0, out_size[1]), np.float32), np.empty((F, C) + kernel, np.float32)
    if winograd.suits(*shaped, (stride, stride), (1, 1)):
        shapes = winograd_products(N, C, F, out_size)
    else:
        shapes = [(F, C * KK, L) for L in pixels]
    if backward:
        shapes += [(F, L, C * KK) for L in pixels]
        shapes += [(C, F * KK, L) for L in pixels] * input_gradient
    return shapes


def winograd_products(N, C, F, out_size):
    """For each chunk of tiles (nnscratch.functions.winograd: chunks.row_chunks, a few
    images or a block of tile rows of one), M[a, b] = U[a, b] (F, C) @ V[a, b] (C, T)
    at the 16 positions (a, b), T the chunk's tiles of 2×2 outputs."""
    TH, TW = (-(-size // 2) for size in out_size)
    images = np.empty((N, C, 0, 0), np.float32)  # row_chunks reads only its batch size
    tiles = [(i.stop - i.start) * (r.stop - r.start) * TW
             for i, r in row_chunks(images, TW, TH, winograd.CHUNK_TILES)]
    return [(F, C, T) for T in tiles for _ in range(16)]


def lstm(N, T, D, H, backward=False, input_gradient=True):
    """The input projection of all steps (T·N, D) @ (D, 4H), then h Wh at each step;
    backward: G Whᵀ at each step, then ∂L/∂Wh, ∂L/∂x (if asked) and ∂L/∂Wx, one product each."""
    shapes = [(T * N, D, 4 * H)] + [(N, H, 4 * H)] * T
    if backward:
        shapes += ([(N, 4 * H, H)] * T + [(H, T * N, 4 * H)]
                   + [(T * N, 4 * H, D)] * input_gradient + [(D, T * N, 4 * H)])
    return shapes


def attention(N, T, Q, A, L, C, backward=False):
    """nnscratch/layers/attention.py for N items of T queries (Q-d) over L regions
    (C-d) whose keys (A-d) are given: the queries' projection (T·N, Q) @ (Q, A), then
    per item the scores (T, A) @ (A, L) and the context (T, L) @ (L, C); backward:
    the projection's two products, and per item ∂scores/∂query (T, L) @ (L, A),
    ∂scores/∂keys (A, T) @ (T, L) and ∂context/∂α (T, C) @ (C, L) (the regions
    themselves take no gradient)."""
    shapes = linear(T * N, Q, A, backward=backward) + N * [(T, A, L), (T, L, C)]
    if backward:
        shapes += N * [(T, L, A), (A, T, L), (T, C, L)]
    return shapes
