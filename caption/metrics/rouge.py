"""ROUGE-L (Lin 2004) as the COCO caption evaluation computes it (thesis §5.3):
an F-measure on the longest common subsequence (LCS), which rewards words in
the right order without asking them to be adjacent.

For a hypothesis h and references r_1..r_m (token lists):

    P = max_j LCS(h, r_j) / |h|        R = max_j LCS(h, r_j) / |r_j|
    ROUGE-L(h) = (1 + β²) P R / (R + β² P),   β = 1.2,   0 when P or R is 0

P and R take their maxima over the references separately (the COCO code does
this, rather than taking the best F). An empty sentence has P = R = 0 against
anything but another empty sentence, which it matches perfectly (P = R = 1).
The corpus score is the mean over the images.
"""
import numpy as np

BETA = 1.2


def lcs_length(a, b):
    """Length of the longest common subsequence of two token lists.

    Dynamic programming over prefixes: L[i][j] = L[i-1][j-1] + 1 when
    a[i-1] == b[j-1], else max(L[i-1][j], L[i][j-1]); one row kept at a time.
    """
    previous = [0] * (len(b) + 1)
    for word in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if word == other
                           else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def precision_recall(hypothesis, reference):
    """LCS precision and recall of one hypothesis against one reference."""
    if not hypothesis or not reference:
        same = not hypothesis and not reference
        return float(same), float(same)
    lcs = lcs_length(hypothesis, reference)
    return lcs / len(hypothesis), lcs / len(reference)


def rouge_l_sentence(hypothesis, references, beta=BETA):
    """ROUGE-L of one hypothesis against its references (formula above)."""
    pairs = [precision_recall(hypothesis, r) for r in references]
    precision = max(p for p, _ in pairs)
    recall = max(r for _, r in pairs)
    if precision == 0 or recall == 0:
        return 0.0
    return (1 + beta ** 2) * precision * recall / (recall + beta ** 2 * precision)


def rouge_l(references, hypotheses, beta=BETA):
    """Corpus ROUGE-L (the mean) and the per-image scores, array (G,).

    references: G lists of reference token lists; hypotheses: G token lists.
    """
    per_image = np.array([rouge_l_sentence(h, refs, beta)
                          for h, refs in zip(hypotheses, references)])
    return float(per_image.mean()), per_image
