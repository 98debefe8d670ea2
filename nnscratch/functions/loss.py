"""The two losses of the thesis.

- Cross-entropy, the negative log-likelihood of eq. 3.2 of the thesis
  (§3.2.2), averaged over the positions that count: the loss of the
  caption generator (§3.7) and of the ImageNet classifier (§3.4).
- The bidirectional max-margin ranking loss of eq. 3.6 (§3.6.3), without its
  λ‖θ‖² term (weight decay lives in the optimizer).

Shapes: V vocabulary (classes), K images (and as many sentences) in a batch;
``...`` any leading shape, (N,) or (N, T).
"""
from .. import kernels
from ..backend import get_array_module
from ..core import Function, as_tensor
from .softmax import shifted_exp


class CrossEntropy(Function):
    """logits (..., V) -> the mean over unmasked positions p of -log softmax(logits_p)[y_p].

        L = -(1 / Σ_p m_p) Σ_p m_p log P(y_p | x_p)       (eq. 3.2, averaged)
        ∂L/∂logits_p = m_p (softmax(logits_p) - onehot(y_p)) / Σ_p m_p

    Log-softmax and the likelihood are fused in one Function: the gradient
    above is simpler and more accurate than the chain through both. On the
    CPU, forward keeps e = exp(logits - max) and Σ e (``shifted_exp``) and
    backward scales e by m_p / (Σ e · Σ m) in one pass: the probabilities
    are never a separate array. ``targets`` (...) integer and ``mask`` (...)
    weights of 0/1 are fixed arrays, not inputs.
    """

    def __init__(self, targets, mask=None):
        self.targets, self.mask = targets, mask

    def forward(self, logits):
        xp = get_array_module(logits)
        targets = xp.asarray(self.targets)
        _check_targets(targets, logits)
        weight = _mask_weights(self.mask, logits, targets)
        self.count = weight.sum()
        if float(self.count) == 0:
            raise ValueError(f"cross_entropy: every one of the {targets.size} positions "
                             "is masked out; the mean loss is undefined")
        if kernels.on_gpu(logits):  # one kernel: nnscratch/kernels/softmax_cross_entropy.cu
            self.logits, self.targets, self.weight = logits, targets, weight
            terms, self.log_z = kernels.softmax_cross_entropy_forward(logits, targets, weight)
            return terms.sum() / self.count
        self.e, self.total, largest = shifted_exp(logits, axis=-1)
        picked = xp.take_along_axis(logits, targets[..., None], axis=-1) - largest
        self.targets, self.weight = targets, weight  # -log P(y) = log Σ e - (logits_y - max)
        return ((xp.log(self.total) - picked)[..., 0] * weight).sum() / self.count

    def backward(self, gy):
        if kernels.on_gpu(gy):  # probabilities recomputed from log Z, in one kernel
            return kernels.softmax_cross_entropy_backward(self.logits, self.log_z, self.targets,
                                                          self.weight, gy / self.count)
        xp = get_array_module(gy)
        scale = gy * self.weight / self.count                 # (...): m_p G / Σ m
        g = xp.multiply(self.e, scale[..., None] / self.total)  # softmax · scale
        V = g.shape[-1]
        rows = g.reshape(-1, V)                               # minus onehot · scale
        rows[xp.arange(len(rows)), self.targets.reshape(-1)] -= scale.reshape(-1)
        return g


def _check_targets(targets, logits):
    """Integer targets of shape logits.shape[:-1], every id in [0, V)."""
    if targets.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: targets must be integer class ids, got dtype {targets.dtype}")
    if logits.ndim < 1 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: logits of shape {logits.shape} need targets of shape "
                         f"{logits.shape[:-1]} (logits (..., V), targets (...)), got {targets.shape}")
    V = logits.shape[-1]
    bad = (targets < 0) | (targets >= V)
    if bad.any():
        raise ValueError(f"cross_entropy: target id {int(targets[bad][0])} is out of range "
                         f"[0, {V}) (V = {V} classes, from logits of shape {logits.shape})")


def _mask_weights(mask, logits, targets):
    """The mask as 0/1 weights in the logits' dtype (all ones when None)."""
    xp = get_array_module(logits)
    if mask is None:
        return xp.ones(targets.shape, logits.dtype)
    mask = xp.asarray(mask)
    if mask.shape != targets.shape:
        raise ValueError(f"cross_entropy: mask has shape {mask.shape}, targets {targets.shape}; "
                         "they must match")
    weight = mask.astype(logits.dtype)
    if not bool(((weight == 0) | (weight == 1)).all()):
        raise ValueError("cross_entropy: mask must hold only 0 and 1 (or False and True)")
    return weight


def cross_entropy(logits, targets, mask=None):
    """Mean negative log-likelihood over unmasked positions (eq. 3.2 of the thesis).

    logits (..., V) float, targets (...) integer ids in [0, V), mask (...) of
    0/1 (bool or float; None counts every position). Every target must be a
    valid id, masked ones too: pad with a real token id and mask it out.
    Returns a scalar Tensor. Raises ValueError on shape mismatches, ids out
    of range, or a mask that leaves no position.
    """
    return CrossEntropy(_data(targets), _data(mask))(logits)


class RankingLoss(Function):
    """S (K, K) -> L, the bidirectional max-margin loss of eq. 3.6 of the thesis.

    ``S[k, l] = v_kᵀ s_l`` scores image k against sentence l; the matching
    pairs are on the diagonal. With Δ the margin (1 in the thesis),

        L = Σ_k [ Σ_{l≠k} max(0, S_kl - S_kk + Δ)      sentences ranked for image k
                + Σ_{l≠k} max(0, S_lk - S_kk + Δ) ]    images ranked for sentence k

    The thesis writes Σ_l; the terms l = k are left out, as Karpathy does:
    each would add the constant Δ and no gradient. A sum, not a mean, as in
    eq. 3.6 (divide by K yourself for a batch-size-free learning rate).

    ∂L/∂S_kl (l ≠ k) counts the active hinges that hold S_kl, and
    ∂L/∂S_kk is minus the number of active hinges in row k and column k.
    """

    def __init__(self, margin=1.0):
        self.margin = margin

    def forward(self, S):
        xp = get_array_module(S)
        if S.ndim != 2 or S.shape[0] != S.shape[1]:
            raise ValueError(f"ranking_loss: scores must be a square (K, K) matrix of "
                             f"image-by-sentence scores, got shape {S.shape}")
        positive = S.diagonal()
        off_diagonal = ~xp.eye(S.shape[0], dtype=bool)
        margin = S.dtype.type(self.margin)
        by_image = xp.maximum(0, S - positive[:, None] + margin) * off_diagonal
        by_sentence = xp.maximum(0, S - positive[None, :] + margin) * off_diagonal
        self.active_by_image, self.active_by_sentence = by_image > 0, by_sentence > 0
        return by_image.sum() + by_sentence.sum()

    def backward(self, gy):
        xp = get_array_module(gy)
        gS = (self.active_by_image.astype(gy.dtype) + self.active_by_sentence) * gy
        diagonal = xp.arange(gS.shape[0])
        gS[diagonal, diagonal] = -gy * (self.active_by_image.sum(axis=1)
                                        + self.active_by_sentence.sum(axis=0))
        return gS


def ranking_loss(S, margin=1.0):
    """Eq. 3.6 of the thesis without λ‖θ‖²: S (K, K) scores, matches on the diagonal.

    Returns a scalar Tensor, the sum over both directions (see RankingLoss).
    """
    return RankingLoss(margin)(S)


def _data(value):
    """The array inside a Tensor (or the value itself; None stays None)."""
    return None if value is None else as_tensor(value).data
