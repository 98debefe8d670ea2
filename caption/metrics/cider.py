"""CIDEr-D (Vedantam et al. 2015) as the COCO caption evaluation computes it
(thesis §5.3): agreement with the consensus of the references, weighting each
n-gram by how rare it is among the images (tf-idf), so that "a", "the" count
little and the words that tell this image from others count much.

For G groups (hypothesis c_g, references s_g1..s_gm, all token lists), each
n-gram w of order n in a sentence s gets the weight

    g(w, s) = count(w, s) · (log G - log max(1, df(w)))

where df(w) is the number of groups whose references contain w. With
g_n(s) the vector of the n-gram weights of order n and ℓ(s) = |s| the length
(the COCO code counts bigrams, |s| - 1, which gives the same differences: a
term with an empty sentence is 0 anyway, its vector being zero),

    CIDEr-D_n(c, S) = 10/m Σ_j exp(-(ℓ(c) - ℓ(s_j))² / (2σ²))
                      · Σ_w min(g(w, c), g(w, s_j)) · g(w, s_j) / (‖g_n(c)‖ ‖g_n(s_j)‖)
    CIDEr-D(c, S)   = (1/4) Σ_{n=1..4} CIDEr-D_n(c, S),     σ = 6

The min() clips the hypothesis weights by the reference ones (so repeating a
word does not pay) and the Gaussian penalizes a length unlike the
reference's. A term whose norm is zero contributes 0. The corpus score is the
mean over the groups; the document frequencies come from the evaluated
references themselves, so the same caption scores differently in another set.
"""
from collections import Counter

import numpy as np

from .ngrams import ngram_counts

SIGMA = 6.0


def document_frequency(references, max_n=4):
    """df(w): in how many groups' references the n-gram w appears."""
    df = Counter()
    for refs in references:
        df.update(set().union(*(ngram_counts(r, max_n) for r in refs)))
    return df


def tfidf(tokens, df, log_groups, max_n=4):
    """The weights g(w, s) split by order: list of max_n dicts, their norms,
    and ℓ(s), the length."""
    vectors = [{} for _ in range(max_n)]
    for ngram, count in ngram_counts(tokens, max_n).items():
        vectors[len(ngram) - 1][ngram] = count * (log_groups - np.log(max(1.0, df[ngram])))
    norms = [np.sqrt(sum(v * v for v in vector.values())) for vector in vectors]
    return vectors, norms, len(tokens)


def clipped_cosines(hyp, ref, sigma=SIGMA):
    """CIDEr-D_n / 10 of one hypothesis against one reference, for each n."""
    (hyp_vectors, hyp_norms, hyp_length), (ref_vectors, ref_norms, ref_length) = hyp, ref
    penalty = np.exp(-float(hyp_length - ref_length) ** 2 / (2 * sigma ** 2))
    cosines = []
    for h, r, h_norm, r_norm in zip(hyp_vectors, ref_vectors, hyp_norms, ref_norms):
        dot = sum(min(weight, r.get(ngram, 0.0)) * r.get(ngram, 0.0)
                  for ngram, weight in h.items())
        cosines.append(dot / (h_norm * r_norm) if h_norm > 0 and r_norm > 0 else 0.0)
    return penalty * np.array(cosines)


def cider_d(references, hypotheses, max_n=4, sigma=SIGMA):
    """Corpus CIDEr-D (the mean) and the per-image scores, array (G,).

    references: G lists of reference token lists; hypotheses: G token lists.
    """
    df = document_frequency(references, max_n)
    log_groups = np.log(len(references))
    vectors = {}   # a sentence met again (the same reference for many hypotheses) is weighed once

    def weighed(tokens):
        key = tuple(tokens)
        if key not in vectors:
            vectors[key] = tfidf(tokens, df, log_groups, max_n)
        return vectors[key]

    per_image = []
    for hypothesis, refs in zip(hypotheses, references):
        hyp = weighed(hypothesis)
        per_n = sum(clipped_cosines(hyp, weighed(r), sigma) for r in refs) / len(refs)
        per_image.append(10.0 * per_n.mean())
    return float(np.mean(per_image)), np.array(per_image)
