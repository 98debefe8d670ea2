"""The image–sentence ranking model of the thesis (§3.6, eq. 3.3–3.6; Karpathy &
Fei-Fei 2015): images and sentences are mapped into one space of E dimensions,
where an image and a sentence that describes it score higher than mismatched
pairs.

Shapes: N images (or sentences), K image-feature size (512 for SqueezeNet,
4096 for VGG-16's fc7), V vocabulary, T words of the longest sentence of a
batch, E the size of the common space (word embeddings, RNN hidden states,
image vectors and sentence vectors all have E components, since eq. 3.6
compares them by a dot product).

    v = W·CNN(I) + b                          eq. 3.3   encode_images
    s = Σ_i W_w·1_i                           eq. 3.4   encode_sentences, "bow"
    h_t = ReLU(W_hh h_{t-1} + W_xh e_t + b),  eq. 3.5   encode_sentences, "rnn"
      e_t = W_w·1_t, h_0 = 0;  s = h_T ("last") or s = Σ_t h_t ("sum")
    S_kl = v_kᵀ s_l                           eq. 3.6   scores ("dot")
    S_kl = v̂_kᵀ ŝ_l,  x̂ = x / ‖x‖             scores "cosine" (Kiros et al. 2014)
    L = Σ_k [Σ_{l≠k} max(0, S_kl − S_kk + 1) + Σ_{l≠k} max(0, S_lk − S_kk + 1)]
                                              eq. 3.6   loss (F.ranking_loss)

The code multiplies row vectors from the right (x W, as nnscratch does), so
W·CNN(I) above is ``features @ W`` and W_xh e_t is ``e_t @ Wx``.

The CNN is frozen (§3.6.1): the model receives its features, CNN(I), already
computed. The sentence encoders read the words only, w_1 … w_L, without the
<start> and <end> markers of the caption generator's batches: eq. 3.4 sums
the words of the sentence and eq. 3.5 runs over them (``sentence_words``
strips the markers). Padding after a sentence's last word is masked out;
since the RNN reads left to right, the padded steps never reach a real one.

With ``scores`` "cosine" (beyond the thesis) v and s are scaled to unit
length before the dot product, as in Kiros et al. 2014 (there with a margin
of 0.2): a score then lies in [−1, 1], and no image or sentence scores high
against everything by the length of its vector alone.

The λ‖θ‖² term of eq. 3.6 is not in ``loss``: the optimizer's weight decay
adds its gradient 2λθ (``--weight-decay`` is 2λ, see nnscratch/optim.py), so
it is counted once. The loss is a sum over the K×(K−1) mismatched pairs of a
batch in each direction, as eq. 3.6 writes it, not a mean.
"""
import numpy as np

import nnscratch.functional as F
from nnscratch.backend import get_array_module
from nnscratch.core import as_tensor
from nnscratch.layers import RNN, Embedding, Linear, Module

ENCODERS = ("bow", "rnn")
POOLINGS = ("last", "sum")
SCORES = ("dot", "cosine")


def sentence_words(tokens, mask):
    """Batching's rows -> the words alone.

    tokens (N, T + 2) = <start> w_1 … w_L <end> <pad> …, mask (N, T + 2) True
    on <start>, the words and <end> (see caption/data/batching.py) -> words
    (N, T) and word_mask (N, T), True on w_1 … w_L. The column of <end> in a
    shorter row is kept in ``words`` but masked out.
    """
    return tokens[:, 1:-1], mask[:, 2:]


def last_word(mask):
    """word_mask (N, T) -> (N, T) with one True per row, on the last real word
    (none for an empty sentence): the weights that make Σ_t h_t pick h_T."""
    xp = get_array_module(mask)
    lengths = mask.sum(axis=1)
    return xp.arange(mask.shape[1])[None, :] == (lengths - 1)[:, None]


def weighted_sum(x, weights):
    """x (N, T, E), fixed weights (N, T) -> Σ_t weights[:, t] x[:, t] (N, E)."""
    x = as_tensor(x)
    xp = get_array_module(x.data)
    w = xp.asarray(weights, dtype=x.data.dtype)[:, :, None]
    return F.sum(x * w, axis=1)


class Ranker(Module):
    """Image features (N, K) and sentences (N, T) -> the scores S (N, N) of eq. 3.6.

    ``encoder`` "bow" (eq. 3.4) or "rnn" (eq. 3.5, ReLU, h_0 = 0); ``pooling``
    "last" (s = h_T) or "sum" (s = Σ_t h_t) for the RNN; ``margin`` the Δ = 1
    of eq. 3.6; ``scores`` "dot" (eq. 3.6) or "cosine". Parameters are drawn
    from ``rng`` (a NumPy Generator).
    """

    def __init__(self, vocab_size, feature_size, embed_size=256, encoder="rnn",
                 pooling="sum", margin=1.0, scores="dot", rng=None):
        super().__init__()
        if encoder not in ENCODERS:
            raise ValueError(f"ranker: encoder must be one of {ENCODERS}, got {encoder!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"ranker: pooling must be one of {POOLINGS}, got {pooling!r}")
        if scores not in SCORES:
            raise ValueError(f"ranker: scores must be one of {SCORES}, got {scores!r}")
        rng = rng if rng is not None else np.random.default_rng()
        self.encoder, self.pooling, self.margin = encoder, pooling, margin
        self.scores = scores
        self.image_projection = Linear(feature_size, embed_size, rng=rng)   # W, b of eq. 3.3
        self.embedding = Embedding(vocab_size, embed_size, rng=rng)         # W_w of eq. 3.4, 3.5
        if encoder == "rnn":
            self.recurrent = RNN(embed_size, embed_size, activation="relu", rng=rng)

    def encode_images(self, features):
        """v = W·CNN(I) + b (eq. 3.3): features (N, K) -> v (N, E) (unit length for
        "cosine" scores)."""
        return self.unit(self.image_projection(features))

    def unit(self, x):
        """x (N, E) as it enters the scores: itself ("dot"), or scaled to unit length."""
        return F.l2_normalize(x) if self.scores == "cosine" else x

    def encode_sentences(self, words, mask):
        """words (N, T) ids, mask (N, T) True on real words -> s (N, E).

        bow: s = Σ_i W_w·1_i over the real words (eq. 3.4).
        rnn: e_t = W_w·1_t; h_t = ReLU(W_hh h_{t-1} + W_xh e_t + b), h_0 = 0
             (eq. 3.5); s = h_T at each sentence's own last word, or Σ_t h_t
             over its real words. An empty sentence gets s = 0.
        """
        words, mask = as_tensor(words).data, as_tensor(mask).data.astype(bool)
        if words.shape != mask.shape or words.ndim != 2:
            raise ValueError(f"ranker: words and mask must both be (N, T), got "
                             f"{words.shape} and {mask.shape}")
        e = self.embedding(words)                                   # (N, T, E)
        if self.encoder == "bow":
            return self.unit(weighted_sum(e, mask))                 # eq. 3.4
        h = self.recurrent(e)                                       # eq. 3.5, (N, T, E)
        return self.unit(weighted_sum(h, mask if self.pooling == "sum" else last_word(mask)))

    def forward(self, features, words, mask):
        """S_kl = v_kᵀ s_l (eq. 3.6): image k against sentence l, (N, N)."""
        return self.score_matrix(self.encode_images(features), self.encode_sentences(words, mask))

    @staticmethod
    def score_matrix(v, s):
        """Encoded images v (N, E) and sentences s (M, E) -> S = v sᵀ (N, M), eq. 3.6."""
        return F.matmul(v, F.transpose(s))

    def loss(self, features, words, mask):
        """Eq. 3.6 without λ‖θ‖² (the optimizer's weight decay): sentence k
        describes image k, so the matching pairs are the diagonal of S."""
        if features.shape[0] != words.shape[0]:
            raise ValueError(f"ranker: {features.shape[0]} images but {words.shape[0]} "
                             "sentences; the loss pairs image k with sentence k")
        return F.ranking_loss(self(features, words, mask), self.margin)

    def extra_repr(self):
        return (f"encoder={self.encoder!r}, pooling={self.pooling!r}, margin={self.margin}, "
                f"scores={self.scores!r}")
