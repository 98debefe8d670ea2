"""The 3×3, stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3)
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016,
arXiv:1509.09308): the convolution of thesis §3.4 (Fig. 3.3) with 2.25× fewer
multiplications than the sum of ``conv.py``, forward only, on the CPU
(Conv2d's backward needs only x and W, and stays im2col's).

Shapes: N batch, C input channels, F filters, H×W input, (ph, pw) zero
padding, OH×OW = (H + 2ph - 2)×(W + 2pw - 2) output, cut into TH×TW tiles of
2×2 outputs, TH = ⌈OH/2⌉, TW = ⌈OW/2⌉ (an odd output is computed on whole
tiles and cropped).

The tile of outputs at rows 2i, 2i+1 and columns 2j, 2j+1 reads the 4×4 block
d of the padded input x̃ at rows 2i..2i+3, columns 2j..2j+3. For one channel
and one 3×3 kernel g it is

    Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A         (2×2; ⊙ the element-wise product)

    Bᵀ = [1  0 -1  0]     G = [ 1    0    0 ]     Aᵀ = [1  1  1  0]
         [0  1  1  0]         [1/2  1/2  1/2]          [0  1 -1 -1]
         [0 -1  1  0]         [1/2 -1/2  1/2]
         [0  1  0 -1]         [ 0    0    1 ]

16 multiplications where the direct sum takes 36. The transforms are linear,
so the sum over channels can be taken between them: at each of the 16
positions (a, b) of a transformed tile it is one matrix product,

    U[a, b] = (G g Gᵀ)[a, b]   of every (filter, channel)   U (4, 4, F, C), once a forward
    V[a, b] = (Bᵀ d B)[a, b]   of every (channel, tile)     V (4, 4, C, T), T tiles
    M[a, b] = U[a, b] @ V[a, b]                             M (4, 4, F, T)
    y[n, f, 2i:2i+2, 2j:2j+2] = (Aᵀ M A)[tile] + b[f]       y (N, F, OH, OW)

Bᵀ d B and Aᵀ M A hold only 0 and ±1 (``combine``): additions and subtractions
of whole arrays, once along the tiles' rows and once along their columns.
They read the padded input split by the parity of its rows and columns,
x̃[n, c, 2i + r, 2j + s] at [n, c, r, i, s, j] (``split_parities``), so that
the column (and row) k = 0..3 of every tile is one slice with unit stride:
parity k mod 2, tiles from ⌊k/2⌋. The tiles go through in chunks of a
few images, or of a few tile rows of one image (``chunks.row_chunks``), and
every chunk reuses the same buffers, so that its working set stays in cache.
"""
from itertools import product

import numpy as np

from .chunks import row_chunks

B_T = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
A_T = ((1, 1, 1, 0), (0, 1, -1, -1))

# Where im2col is faster (measured on one thread, batch 8 and 16, CPU time):
# the transforms cost about C + F an output where the products save about
# 5·C·F (36 multiplications become 16), and more on narrow images, whose rows
# are short. So Winograd needs at least MIN_CHANNELS channels in and out
# (VGG-16's conv1_1, C = 3, was 2.9× slower, SqueezeNet's 16 -> 64 at 55×55
# 1.3×; 32 -> 64 at 112×112 0.92×, 32 -> 32 at 56×56 0.97×) and outputs at least
# MIN_WIDTH wide (64 -> 64 at 13×13 was 1.09×, 128 -> 128 at 7×7 1.12×;
# 64 -> 64 at 14×14 0.91×, VGG-16's 512 -> 512 at 14×14 0.7×). Those were
# OpenBLAS's AVX2 (Haswell) kernel; with its AVX-512 kernel the products are
# twice as fast and the transforms cost the same, and on two threads, batch 8,
# Winograd lost below 128 channels (VGG-16's conv1_2 194 ms against 143,
# conv2_1 73 against 62), broke even at 128 (123 against 120) and won from
# 256 (conv4_2 63 against 92). On two threads with the AVX2 kernel too the
# whole VGG-16 forward was fastest so (1.26 of PyTorch's time, against 1.40
# from 64 channels and 1.51 from 32). So it needs 128 channels in and out.
MIN_CHANNELS, MIN_WIDTH = 128, 14

# Tiles in a chunk (``chunks.row_chunks``), the columns of its 16 products: fewer
# made the deep layers' products slower (U, 16·F·C, read again for every chunk;
# VGG-16's conv4: a fifth), more took V and M out of the cache (its conv1_2,
# where 512 tiles of V and M are 4 MiB).
CHUNK_TILES = 512


def suits(x, W, stride, pad):
    """Whether Conv2d.forward computes y through ``correlate``: a NumPy x, a 3×3
    kernel, stride 1, and the channels and width above."""
    (F, C, KH, KW), OW = W.shape, x.shape[3] + 2 * pad[1] - 2
    return (isinstance(x, np.ndarray) and (KH, KW) == (3, 3) and tuple(stride) == (1, 1)
            and min(C, F) >= MIN_CHANNELS and OW >= MIN_WIDTH)


def kernel_transform(W):
    """W (F, C, 3, 3) -> U (16, F, C): U[4a + b, f, c] = (G W[f, c] Gᵀ)[a, b],
    all as one product, vec(G g Gᵀ) = (G ⊗ G) vec(g) (row-major vec, ⊗ Kronecker)."""
    G_ = np.asarray(G, dtype=W.dtype)
    F, C = W.shape[:2]
    return (np.kron(G_, G_) @ W.reshape(F * C, 9).T).reshape(16, F, C)


def combine(matrix, parts, out, scratch=None):
    """out[a] = Σ_k matrix[a][k] parts[k], for a matrix of 0 and ±1 (Bᵀ or Aᵀ):
    each row one addition or subtraction of whole arrays per term after the first
    (every row of Bᵀ and Aᵀ has a +1, which is put first). With a ``scratch``
    array, a row's terms but the last are summed there, so that out[a] is written
    once (faster where out[a] is a strided view: the output transform of VGG-16's
    conv1_2, batch 8, 54 -> 42 ms)."""
    for row, target in zip(matrix, out):
        terms = sorted(((sign, part) for sign, part in zip(row, parts) if sign),
                       key=lambda term: -term[0])
        total = target if scratch is None else scratch
        (_, part), *rest = terms
        for k, (sign, term) in enumerate(rest):
            into = target if k == len(rest) - 1 else total
            (np.add if sign > 0 else np.subtract)(part, term, out=into)
            part = into


def split_parities(x, pad, out):
    """x (n, C, H, W) into out (n, C, 2, TH + 1, 2, TW + 1), whose zero border is
    kept: out[n, c, r, i, s, j] = x̃[n, c, 2i + r, 2j + s], x̃ = x padded by ``pad``.

    The rows of x from the first of parity r (x̃ row = x row + ph) land at
    i = ⌊(that row + ph) / 2⌋; likewise the columns."""
    ph, pw = pad
    for r, s in product((0, 1), repeat=2):
        row, column = (r - ph) % 2, (s - pw) % 2
        part = x[:, :, row::2, column::2]
        i, j = (row + ph) // 2, (column + pw) // 2
        out[:, :, r, i:i + part.shape[2], s, j:j + part.shape[3]] = part


def input_transform(parities, rows, t, V):
    """V (4, 4, C, n, m, TW) = Bᵀ d B of the tiles of tile rows ``rows`` (m of
    them), from ``parities`` (n, C, 2, TH + 1, 2, TW + 1) (``split_parities``).

    Along the columns first, the column l of every tile is
    parities[..., l % 2, l // 2 + (0..TW-1)]: t[b] = Σ_l Bᵀ[b, l] column_l, into
    t (4, n, C, 2, m + 1, TW); then along the rows, the row k is
    t[:, :, :, k % 2, k // 2 + (0..m-1)]: V[a] = Σ_k Bᵀ[a, k] row_k. (This order
    leaves the short rows of TW values to the smaller t; V's slices are whole
    blocks of m·TW: VGG-16's conv4 and conv5, batch 8, 19 -> 16 and 7 -> 5 ms.)"""
    m, TW = V.shape[4:]
    block = parities[:, :, :, rows.start:rows.stop + 1]  # the m + 1 parity rows they read
    combine(B_T, [block[..., l % 2, l // 2:l // 2 + TW] for l in range(4)], t)
    combine(B_T, [t[:, :, :, k % 2, k // 2:k // 2 + m] for k in range(4)],
            [V[a].transpose(0, 2, 1, 3, 4) for a in range(4)])


def output_transform(M, s, y):
    """M (4, 4, F, n, m, TW) -> y (n, F, m, 2, TW, 2) = Aᵀ M A of every tile:
    s[a] = Σ_k Aᵀ[a, k] M[k] along the rows, into s (2, 4, F, n, m, TW), then
    y[..., a, :, q] = Σ_l Aᵀ[q, l] s[a, l] along the columns (with M[0, :2],
    free by then, as the scratch)."""
    combine(A_T, M, s)
    combine(A_T, [s[:, l] for l in range(4)],
            [y[..., q].transpose(3, 1, 0, 2, 4) for q in range(2)], scratch=M[0, :2])


def first(buffer, shape):
    """The first entries of a flat ``buffer`` as an array of ``shape`` (a view):
    one buffer serves every chunk, the first chunk being the largest."""
    return buffer[:int(np.prod(shape))].reshape(shape)


def correlate(x, W, b, pad):
    """y (N, F, OH, OW) = conv2d(x, W, b, stride=1, pad) for x (N, C, H, W) and a
    3×3 W (F, C, 3, 3), b (F,) or None, NumPy arrays: the module's equations,
    chunk by chunk."""
    N, C, H, W_ = x.shape
    F, (ph, pw) = W.shape[0], pad
    OH, OW = H + 2 * ph - 2, W_ + 2 * pw - 2
    TH, TW = -(-OH // 2), -(-OW // 2)
    U = kernel_transform(W)
    y = np.empty((N, F, TH, 2, TW, 2), dtype=W.dtype)  # y[n, f, i, a, j, q]: output 2i+a, 2j+q
    chunks = row_chunks(x, TW, TH, CHUNK_TILES)
    n, m = (part.stop - part.start for part in chunks[0])  # the largest chunk: the buffers,
    parities = np.zeros((n, C, 2, TH + 1, 2, TW + 1), dtype=x.dtype)
    t = np.empty(8 * C * n * (m + 1) * TW, dtype=x.dtype)  # (4, n, C, 2, m + 1, TW)
    V = np.empty(16 * C * n * m * TW, dtype=x.dtype)       # (4, 4, C, n, m, TW)
    M = np.empty(16 * F * n * m * TW, dtype=y.dtype)       # (4, 4, F, n, m, TW)
    s = np.empty(8 * F * n * m * TW, dtype=y.dtype)        # (2, 4, F, n, m, TW)
    split_images = None
    for images, rows in chunks:
        n, m = images.stop - images.start, rows.stop - rows.start
        if images != split_images:  # an image cut into blocks of tile rows is split once
            split_parities(x[images], pad, parities[:n])
            split_images = images
        V_chunk = first(V, (4, 4, C, n, m, TW))
        input_transform(parities[:n], rows, first(t, (4, n, C, 2, m + 1, TW)), V_chunk)
        M_chunk = first(M, (16, F, n * m * TW))
        np.matmul(U, V_chunk.reshape(16, C, -1), out=M_chunk)
        M_chunk = M_chunk.reshape(4, 4, F, n, m, TW)
        if b is not None:  # Aᵀ[:, 1] = (1, 1): M[1, 1] enters all four outputs once
            M_chunk[1, 1] += b[:, None, None, None]
        output_transform(M_chunk, first(s, (2, 4, F, n, m, TW)), y[images, :, rows])
    y = y.reshape(N, F, 2 * TH, 2 * TW)
    return y if (OH, OW) == (2 * TH, 2 * TW) else np.ascontiguousarray(y[:, :, :OH, :OW])
