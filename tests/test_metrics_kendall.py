"""Kendall's τ-b and τ-c: hand cases, the O(n²) definition, and scipy."""
import itertools

import numpy as np
import pytest
from scipy import stats

from caption.metrics.kendall import concordance, count_inversions, tau_b, tau_c


def concordance_by_definition(x, y):
    """S = P - Q by looking at every pair, as the definition reads."""
    return sum(int(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]))
               for i, j in itertools.combinations(range(len(x)), 2))


def test_inversions_of_small_lists():
    assert count_inversions([]) == ([], 0)
    assert count_inversions([3, 1, 2]) == ([1, 2, 3], 2)
    assert count_inversions([2, 2, 1, 1]) == ([1, 1, 2, 2], 4)   # equal values are no inversion
    assert count_inversions(list(range(10, 0, -1)))[1] == 45


def test_hand_cases():
    assert tau_b([1, 2, 3], [1, 2, 3]) == 1.0
    assert tau_b([1, 2, 3], [3, 2, 1]) == -1.0
    # x = 1 1 2, y = 1 2 2: P = 2 - one tie in each: S = 1, n0 = 3, n1 = n2 = 1
    assert concordance([1, 1, 2], [1, 2, 2]) == (1, 3, 1, 1)
    assert tau_b([1, 1, 2], [1, 2, 2]) == pytest.approx(1 / 2)
    # m = 2 distinct values, n = 3: τ-c = 2 · 1 / (9 · 1/2)
    assert tau_c([1, 1, 2], [1, 2, 2]) == pytest.approx(4 / 9)
    # a 2x2 table filled evenly on its diagonal reaches τ-c = 1
    assert tau_c([0, 0, 1, 1], [5, 5, 7, 7]) == pytest.approx(1.0)


def test_constant_input_is_nan():
    assert np.isnan(tau_b([1, 1, 1], [1, 2, 3]))
    assert np.isnan(tau_c([1, 2, 3], [4, 4, 4]))


def test_nan_and_mismatched_lengths_refused():
    with pytest.raises(ValueError, match="nan"):
        tau_b([1.0, np.nan], [1, 2])
    with pytest.raises(ValueError, match="one length"):
        tau_c([1, 2, 3], [1, 2])


@pytest.mark.parametrize("seed", range(5))
def test_concordance_matches_the_definition(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 4, 60), rng.integers(0, 6, 60)
    assert concordance(x, y)[0] == concordance_by_definition(x, y)


@pytest.mark.parametrize("seed", range(5))
def test_matches_scipy_with_many_ties(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    human = rng.integers(1, 5, n).astype(float)            # ratings 1-4, as the experts'
    metric = np.round(human + rng.normal(0, 2, n), 1)       # correlated, with ties
    metric[rng.random(n) < 0.3] = 0.0                        # a block of zero scores
    for ours, variant in ((tau_b, "b"), (tau_c, "c")):
        expected = stats.kendalltau(metric, human, variant=variant).statistic
        assert ours(metric, human) == pytest.approx(expected, abs=1e-12)
