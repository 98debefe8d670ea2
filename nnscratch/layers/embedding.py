"""Word embeddings: the matrix W_w of thesis eq. 3.4–3.5, one row per word."""
import numpy as np

from .. import functional as F
from .init import default_rng
from .module import Module, Parameter


class Embedding(Module):
    """ids (N, T) integers in [0, V) -> vectors (N, T, D), y[n, t] = W[ids[n, t]].

    V words, D dimensions; W has shape (V, D). Selecting a row is a linear
    layer applied to a one-hot vector, whose fan-in is one active input, so
    the He/Xavier-style variance 1 / fan_in gives W ~ N(0, 1), float32, drawn
    from ``rng`` (a NumPy Generator; None: a fresh one).
    """

    def __init__(self, num_embeddings, dim, rng=None):
        super().__init__()
        rng = default_rng(rng)
        self.W = Parameter(rng.standard_normal((num_embeddings, dim)).astype(np.float32))

    def forward(self, ids):
        return F.embedding(ids, self.W)

    def extra_repr(self):
        return f"{self.W.shape[0]}, {self.W.shape[1]}"
