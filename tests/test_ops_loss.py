"""Softmax, log-softmax, cross-entropy (eq. 3.2 of the thesis) and the ranking
loss (eq. 3.6): forward against SciPy and plain loops, gradients against
central differences and PyTorch, errors by name."""
import numpy as np
import pytest
import scipy.special

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.backend import to_cpu

rng = np.random.default_rng(1)


def randn(*shape):
    return rng.standard_normal(shape)


def scores_away_from_hinges(K, margin, gap=0.05):
    """Scores S (K, K) whose every hinge S_kl - S_kk + margin (l ≠ k, rows and
    columns) is at least ``gap`` from 0, so no gradcheck step crosses a kink."""
    while True:
        S = randn(K, K)
        hinges = np.concatenate([S - np.diag(S)[:, None], S - np.diag(S)[None, :]]) + margin
        off = ~np.eye(K, dtype=bool)
        if np.all(np.abs(hinges[np.concatenate([off, off])]) > gap):
            return S


MASK = np.array([[True, True, False, True], [True, False, False, False]])
TARGETS_2x4 = rng.integers(0, 5, (2, 4))

GRADCHECK_CASES = {
    "softmax": [(F.softmax, [randn(3, 5)]), (lambda a: F.softmax(a, axis=0), [randn(4, 3)])],
    "log_softmax": [(F.log_softmax, [randn(3, 5)]), (lambda a: F.log_softmax(a, axis=1), [randn(2, 4, 3)])],
    "cross_entropy": [
        (F.cross_entropy, [randn(4, 6), rng.integers(0, 6, 4)]),
        (F.cross_entropy, [randn(2, 4, 5), TARGETS_2x4, MASK]),  # 3-d logits, a bool mask
        (lambda logits: F.cross_entropy(logits, TARGETS_2x4, MASK.astype(np.float64)), [randn(2, 4, 5)]),
    ],
    "ranking_loss": [(F.ranking_loss, [scores_away_from_hinges(4, 1.0)]),
                     (lambda S: F.ranking_loss(S, margin=0.3), [scores_away_from_hinges(5, 0.3)])],
    "l2_normalize": [(F.l2_normalize, [randn(3, 5)]),
                     (lambda x: F.l2_normalize(x, axis=0), [randn(4, 2, 3)])],
}


def test_l2_normalize_gives_unit_rows_and_matches_torch(xp):
    import torch
    x = randn(4, 6)
    x[2] = 0.0                                   # a zero row stays zero, without 0 / 0
    y = F.l2_normalize(xp.asarray(x)).data
    y = to_cpu(y)
    expected = torch.nn.functional.normalize(torch.from_numpy(x), dim=-1, eps=1e-8).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    assert np.allclose(np.linalg.norm(y[[0, 1, 3]], axis=1), 1.0) and not y[2].any()


def test_ranking_cases_have_active_and_idle_hinges():
    """Else their gradient check would prove little (all zero, or no hinge ever off)."""
    for fn, (S,) in GRADCHECK_CASES["ranking_loss"]:
        S = Tensor(S, requires_grad=True)
        fn(S).backward()
        off_diagonal = S.grad[~np.eye(len(S.grad), dtype=bool)]
        assert (off_diagonal != 0).any() and (off_diagonal == 0).any()


# -- softmax and log-softmax ---------------------------------------------------

def test_softmax_and_log_softmax_match_scipy(xp):
    x = randn(3, 4, 5).astype(np.float32)
    for axis in (-1, 0, 1):
        got = F.softmax(xp.asarray(x), axis=axis)
        np.testing.assert_allclose(to_cpu(got.data), scipy.special.softmax(x.astype(np.float64), axis=axis),
                                   rtol=1e-5, atol=1e-7)
        got = F.log_softmax(xp.asarray(x), axis=axis)
        np.testing.assert_allclose(to_cpu(got.data), scipy.special.log_softmax(x.astype(np.float64), axis=axis),
                                   rtol=1e-5, atol=1e-6)
        assert got.dtype == np.float32


def test_softmax_is_stable_for_huge_logits(xp):
    x = np.array([[1000.0, 1000.0 + np.log(3.0), -1000.0]], dtype=np.float32)  # exp(1000) overflows
    exact = x.astype(np.float64) - 1000.0  # the same softmax, from small numbers: ≈ [1/4, 3/4, 0]
    p = to_cpu(F.softmax(xp.asarray(x)).data)
    np.testing.assert_allclose(p, scipy.special.softmax(exact, axis=-1), rtol=1e-6, atol=1e-30)
    log_p = to_cpu(F.log_softmax(xp.asarray(x)).data)
    np.testing.assert_allclose(log_p, scipy.special.log_softmax(exact, axis=-1), rtol=1e-6)


# -- cross-entropy -------------------------------------------------------------

def test_cross_entropy_is_the_mean_nll_over_unmasked_positions(xp):
    logits = randn(2, 4, 5).astype(np.float32)
    log_p = scipy.special.log_softmax(logits.astype(np.float64), axis=-1)
    nll = [-log_p[n, t, TARGETS_2x4[n, t]] for n in range(2) for t in range(4) if MASK[n, t]]
    for mask in (MASK, MASK.astype(np.float32)):
        got = F.cross_entropy(xp.asarray(logits), xp.asarray(TARGETS_2x4), xp.asarray(mask))
        np.testing.assert_allclose(float(got.item()), np.mean(nll), rtol=1e-6)
        assert got.dtype == np.float32
    every = F.cross_entropy(xp.asarray(logits), xp.asarray(TARGETS_2x4))
    np.testing.assert_allclose(float(every.item()), -np.mean(np.take_along_axis(
        log_p, TARGETS_2x4[..., None], -1)), rtol=1e-6)


def test_cross_entropy_is_stable_for_huge_logits(xp):
    logits = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    loss = F.cross_entropy(xp.asarray(logits), xp.asarray([1]))
    np.testing.assert_allclose(float(loss.item()), 1e4, rtol=1e-6)


def test_cross_entropy_matches_torch_with_ignore_index():
    torch = pytest.importorskip("torch")
    logits = randn(3, 5, 7).astype(np.float32)
    targets = rng.integers(0, 7, (3, 5))
    mask = rng.random((3, 5)) > 0.3
    ours = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(ours, targets, mask)
    loss.backward()
    theirs = torch.tensor(logits, requires_grad=True)
    ignored = torch.tensor(np.where(mask, targets, -100))
    expected = torch.nn.functional.cross_entropy(theirs.reshape(-1, 7), ignored.reshape(-1), ignore_index=-100)
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-5)
    grad = theirs.grad.numpy()
    np.testing.assert_allclose(ours.grad, grad, rtol=1e-5, atol=1e-5 * np.abs(grad).max())


@pytest.mark.parametrize("targets,mask,message", [
    (np.array([0, 7]), None, r"target id 7 is out of range \[0, 5\).*V = 5"),
    (np.array([-1, 2]), None, r"target id -1 is out of range \[0, 5\)"),
    (np.array([0, 1]), np.array([False, False]), "every one of the 2 positions is masked"),
    (np.array([0, 1, 2]), None, r"cross_entropy: logits of shape \(2, 5\) need targets of shape \(2,\)"),
    (np.array([0.0, 1.0]), None, "targets must be integer"),
    (np.array([0, 1]), np.array([1.0]), r"mask has shape \(1,\), targets \(2,\)"),
    (np.array([0, 1]), np.array([0.5, 1.0]), "mask must hold only 0 and 1"),
])
def test_cross_entropy_errors(targets, mask, message):
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(randn(2, 5), targets, mask)


# -- the ranking loss of eq. 3.6 -------------------------------------------------

def ranking_loss_loops(S, margin):
    """Eq. 3.6 without λ, term by term, the pairs l = k left out."""
    K = len(S)
    total = 0.0
    for k in range(K):
        for l in range(K):
            if l != k:
                total += max(0.0, S[k, l] - S[k, k] + margin) + max(0.0, S[l, k] - S[k, k] + margin)
    return total


@pytest.mark.parametrize("K,margin", [(1, 1.0), (3, 1.0), (6, 0.2)])
def test_ranking_loss_equals_the_double_loop(xp, K, margin):
    S = randn(K, K).astype(np.float32)
    got = F.ranking_loss(xp.asarray(S), margin=margin)
    np.testing.assert_allclose(float(got.item()), ranking_loss_loops(S.astype(np.float64), margin), rtol=1e-5)
    assert got.dtype == np.float32


def test_ranking_loss_leaves_out_the_matching_pairs():
    K = 4  # every score equal: each of the 2 K (K - 1) hinges costs the margin, the diagonal none
    assert F.ranking_loss(np.zeros((K, K))).item() == 2 * K * (K - 1)


def test_ranking_loss_gradient_pushes_the_match_up_and_the_other_down():
    S = Tensor(np.array([[1.0, 0.5], [-0.5, 2.0]]), requires_grad=True)
    loss = F.ranking_loss(S)
    loss.backward()
    # Of the four hinges only S_01 - S_00 + 1 = 0.5 is active (image 0 prefers sentence 1
    # too much); S_10 - S_11 + 1, S_10 - S_00 + 1 and S_01 - S_11 + 1 are all -0.5.
    assert loss.item() == 0.5
    np.testing.assert_array_equal(S.grad, [[-1.0, 1.0], [0.0, 0.0]])


def test_ranking_loss_needs_a_square_matrix():
    with pytest.raises(ValueError, match=r"ranking_loss: .*square.*\(3, 4\)"):
        F.ranking_loss(randn(3, 4))
