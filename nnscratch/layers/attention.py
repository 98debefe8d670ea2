"""Soft attention over image regions (an extension beyond the thesis: Xu et
al. 2015, "Show, Attend and Tell"; the score is the "general" score of Luong
et al. 2015, q_tᵀ W r_l, with W = W_q W_kᵀ of rank A).

A CNN's last feature map, C channels on an S×S grid, is L = S² region vectors
r_l. A query q_t scores every region, and the context is the regions'
average under those scores:

    e_tl = (q_t W_q) · (r_l W_k),   α_t = softmax_l(e_t),   c_t = Σ_l α_tl r_l

or, ``centred``, c_t = Σ_l α_tl r_l − r̄ (r̄ the mean of the L regions): the
context relative to the whole picture, zero for a uniform α.

The caption generator's query is the word just read and the one before it
(caption/models/captioner.py): having just said "red", it looks at the red object
and reads its shape there, so which colour goes with which shape is settled
by *where* the model looks, not by one vector for the whole picture.

Shapes: N batch, T queries per item, Q query size, L regions, C region size,
A attention size.
"""
from .. import functional as F
from .linear import Linear
from .module import Module


class Attention(Module):
    """queries (N, T, Q), regions (N, L, C) -> context (N, T, C), weights α (N, T, L);
    ``keys`` (N, L, A), when given, are ``self.keys(regions)`` already computed.

    W_q (Q, A) and W_k (C, A) are Linear layers without bias (a bias of the
    keys would add the same amount to every region's score). ``centred``: the
    context less the mean region (module docstring).
    """

    def __init__(self, query_size, region_size, attention_size, centred=False, rng=None):
        super().__init__()
        self.query = Linear(query_size, attention_size, bias=False, rng=rng)
        self.key = Linear(region_size, attention_size, bias=False, rng=rng)
        self.centred = centred

    def keys(self, regions):
        """regions (N, L, C) -> keys r_l W_k (N, L, A): computed once per image and passed
        to ``forward`` when several queries' rows share an image."""
        return self.key(regions)

    def forward(self, queries, regions, keys=None):
        keys = self.keys(regions) if keys is None else keys               # (N, L, A)
        scores = F.matmul(self.query(queries), F.transpose(keys, (0, 2, 1)))  # (N, T, L)
        weights = F.softmax(scores, axis=-1)
        context = F.matmul(weights, regions)                               # (N, T, C)
        if self.centred:
            mean = F.sum(regions, axis=1, keepdims=True) * (1.0 / regions.shape[1])  # (N, 1, C)
            context = context - mean
        return context, weights

    def extra_repr(self):
        (Q, A), C = self.query.W.shape, self.key.W.shape[0]
        return f"{Q}, {C}, attention_size={A}" + (", centred" if self.centred else "")
