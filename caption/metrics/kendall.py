"""Kendall's rank correlation τ, with ties: how far a metric orders captions
the way people do (thesis §1.3; the measure of ``caption.agreement``).

For n observations (x_i, y_i) (a metric's score and a human rating), take
every pair of observations i < j. It is *concordant* when x and y order the
two the same way, (x_i - x_j)(y_i - y_j) > 0; *discordant* when they order
them oppositely, < 0; and tied when x_i = x_j or y_i = y_j. With

    P, Q = the numbers of concordant and discordant pairs,  S = P - Q
    n0   = n (n - 1) / 2                     every pair
    n1   = Σ_g t_g (t_g - 1) / 2             pairs tied in x (t_g: size of a group of equal x)
    n2   = Σ_h u_h (u_h - 1) / 2             pairs tied in y (u_h: size of a group of equal y)

the two variants the Flickr8k protocol uses are

    τ-b = S / sqrt((n0 - n1) (n0 - n2))                 (Kendall 1945)
    τ-c = 2 S / (n² (m - 1) / m),   m = min(distinct x values, distinct y values)
                                                        (Stuart 1953)

τ-b reaches ±1 only when x and y have the same ties; τ-c (also called
Stuart's τ) is meant for a few ordered categories, as the experts' ratings
1-4 are, and reaches ±1 when the n observations fill a square table evenly.
Both are nan when x or y is constant, as scipy's are.

S without looking at all n² pairs (Knight 1966): sort the observations by x,
ties by y. In that order, for i < j, x_i ≤ x_j and, where x_i = x_j, y_i ≤ y_j;
so a pair is discordant exactly when y_i > y_j: an *inversion* of the y
sequence, which a merge sort counts while it sorts, in O(n log n). The pairs
tied in neither x nor y are n0 - n1 - n2 + n3 (n3: pairs tied in both, which
n1 and n2 each counted once), so

    P + Q = n0 - n1 - n2 + n3,       S = n0 - n1 - n2 + n3 - 2 Q.
"""
import numpy as np


def count_inversions(values):
    """(values sorted, the number of pairs i < j with values[i] > values[j]).

    Merge sort: split in halves, sort and count each, then merge. When the
    next element comes from the right half, it is smaller than every element
    still waiting in the left half, which stood before it: that many inversions.
    """
    if len(values) <= 1:
        return list(values), 0
    middle = len(values) // 2
    left, inversions_left = count_inversions(values[:middle])
    right, inversions_right = count_inversions(values[middle:])
    merged, inversions = [], inversions_left + inversions_right
    i = j = 0
    while i < len(left) and j < len(right):
        if right[j] < left[i]:
            merged.append(right[j])
            j += 1
            inversions += len(left) - i
        else:
            merged.append(left[i])
            i += 1
    merged += left[i:] + right[j:]
    return merged, inversions


def tied_pairs(*columns):
    """Σ t (t - 1) / 2 over the groups of rows equal in every given column."""
    _, sizes = np.unique(np.stack(columns, axis=1), axis=0, return_counts=True)
    return int(np.sum(sizes * (sizes - 1) // 2))


def concordance(x, y):
    """S = P - Q, n0, n1 and n2 of the module docstring, for two equal-length arrays."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"kendall: x and y must be 1-d of one length, "
                         f"got {x.shape} and {y.shape}")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("kendall: x or y holds nan")
    n = len(x)
    order = np.lexsort((y, x))                          # by x, ties by y
    y_ranks = np.unique(y, return_inverse=True)[1]      # small integers, same order as y
    _, discordant = count_inversions(y_ranks[order].tolist())
    n0, n1, n2 = n * (n - 1) // 2, tied_pairs(x), tied_pairs(y)
    n3 = tied_pairs(x, y)
    return n0 - n1 - n2 + n3 - 2 * discordant, n0, n1, n2


def tau_b(x, y):
    """Kendall's τ-b = S / sqrt((n0 - n1)(n0 - n2)); nan when x or y is constant."""
    s, n0, n1, n2 = concordance(x, y)
    if n0 == n1 or n0 == n2:
        return float("nan")
    return s / np.sqrt(float(n0 - n1) * float(n0 - n2))


def tau_c(x, y):
    """Stuart's τ-c = 2 S / (n² (m - 1) / m); nan when x or y is constant."""
    s, _, _, _ = concordance(x, y)
    n = len(x)
    m = min(len(np.unique(x)), len(np.unique(y)))
    if m < 2:
        return float("nan")
    return 2 * s / (n ** 2 * (m - 1) / m)
