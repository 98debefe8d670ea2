"""BLEU (Papineni et al. 2002) with the conventions of the COCO caption
evaluation, the figure that published captioning results report (thesis §5.3).

For a corpus of G groups, each a hypothesis h_g and references r_g1..r_gm
(all token lists), and n = 1..N:

    matched_n = Σ_g Σ_{n-grams w of h_g} min(count(w, h_g), max_j count(w, r_gj))
    total_n   = Σ_g max(0, |h_g| - n + 1)            (n-grams in the hypotheses)
    p_n       = (matched_n + 1e-15) / (total_n + 1e-9)

    c = Σ_g |h_g|,   r = Σ_g |closest reference of g|
        (the reference length nearest |h_g|; on a tie the shorter one)
    BP = exp(min(0, 1 - (r + 1e-9) / (c + 1e-15)))   (brevity penalty, once
                                                       for the whole corpus)
    BLEU-N = BP · (p_1 · p_2 · ... · p_N) ^ (1/N)

The two small constants keep a zero count from dividing by zero: a corpus with
no matched n-gram of order n scores about 1e-15 ** (1/N), not an error. The
per-image score is the same formula on one group's counts alone.
"""
import numpy as np

from .ngrams import ngram_counts

TINY = 1e-15   # added to matched counts and to the hypothesis length
SMALL = 1e-9   # added to n-gram totals and to the reference length


def closest_length(hypothesis_length, reference_lengths):
    """The reference length nearest the hypothesis's; ties go to the shorter."""
    return min(reference_lengths, key=lambda r: (abs(r - hypothesis_length), r))


def group_counts(hypothesis, references, max_n=4):
    """matched_n and total_n (each of length max_n), |h| and the closest |r|."""
    hyp_counts = ngram_counts(hypothesis, max_n)
    ref_max = {}
    for reference in references:
        for ngram, count in ngram_counts(reference, max_n).items():
            ref_max[ngram] = max(ref_max.get(ngram, 0), count)
    matched = np.zeros(max_n)
    for ngram, count in hyp_counts.items():
        matched[len(ngram) - 1] += min(count, ref_max.get(ngram, 0))
    total = np.array([max(0, len(hypothesis) - n + 1) for n in range(1, max_n + 1)])
    ref_length = closest_length(len(hypothesis), [len(r) for r in references])
    return matched, total, len(hypothesis), ref_length


def bleu_from_counts(matched, total, hyp_length, ref_length):
    """BLEU-1..N from counts; the last axis of ``matched``/``total`` is n."""
    precisions = (matched + TINY) / (total + SMALL)
    orders = np.arange(1, precisions.shape[-1] + 1)
    geometric_means = np.cumprod(precisions, axis=-1) ** (1.0 / orders)
    ratio = (hyp_length + TINY) / (ref_length + SMALL)
    brevity = np.exp(np.minimum(0.0, 1.0 - 1.0 / ratio))
    return geometric_means * np.expand_dims(brevity, -1)


def bleu(references, hypotheses, max_n=4):
    """Corpus BLEU-1..max_n and the per-image scores.

    references: G lists of reference token lists; hypotheses: G token lists.
    Returns (list of max_n corpus scores, array (G, max_n) of per-image scores).
    """
    counts = [group_counts(h, refs, max_n) for h, refs in zip(hypotheses, references)]
    matched = np.array([c[0] for c in counts]).reshape(-1, max_n)
    total = np.array([c[1] for c in counts]).reshape(-1, max_n)
    hyp_length = np.array([c[2] for c in counts], dtype=float)
    ref_length = np.array([c[3] for c in counts], dtype=float)
    per_image = bleu_from_counts(matched, total, hyp_length, ref_length)
    corpus = bleu_from_counts(matched.sum(0), total.sum(0),
                              hyp_length.sum(), ref_length.sum())
    return [float(b) for b in corpus], per_image
