"""Cutting a layer's work on a batch into chunks of about a given size, so
that what one chunk reads and writes stays in the processor's cache and one
buffer serves every chunk (used by conv.py's im2col and winograd.py's tiles).
"""
from .. import kernels


def even_slices(total, count):
    """``total`` items cut into ``count`` (at most ``total``) slices of equal size, the last shorter."""
    step = -(-total // max(1, min(count, total)))
    return [slice(start, min(start + step, total)) for start in range(0, total, step)]


def batch_chunks(x, image_size, chunk_size):
    """Slices of x's batch of about ``chunk_size`` each (at least one image), an
    image of ``image_size`` (bytes, say); a single slice on the GPU, where one
    large product is fastest."""
    N = x.shape[0]
    return even_slices(N, 1 if kernels.on_gpu(x) else -(-N * image_size // chunk_size))


def row_chunks(x, row_size, rows, chunk_size):
    """(images, rows) slices of the work on x's images, ``rows`` rows an image of
    ``row_size`` each, about ``chunk_size`` a chunk (in any one unit: bytes, tiles):
    whole images when an image fits, else one image at a time in blocks of rows."""
    N = x.shape[0]
    if kernels.on_gpu(x) or row_size * rows <= chunk_size:
        return [(images, slice(0, rows))
                for images in batch_chunks(x, row_size * rows, chunk_size)]
    blocks = even_slices(rows, -(-row_size * rows // chunk_size))
    return [(slice(n, n + 1), block) for n in range(N) for block in blocks]
