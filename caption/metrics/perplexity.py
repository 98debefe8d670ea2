"""Perplexity of a language model on held-out captions (thesis §3.7, §5.3).

With the negative log-likelihood (natural log) of every target token summed
over the evaluated sentences, and T the number of those tokens,

    perplexity = exp( Σ_t -log p(w_t | w_<t, I) / T )

the geometric mean of 1 / p over the tokens: the number of words the model
hesitates between, on average. A model that spreads its probability evenly
over V words has perplexity V; a perfect model has 1.
"""
import numpy as np


def perplexity(nll_sum, token_count):
    """exp(mean NLL per token) from summed NLLs and token counts.

    nll_sum, token_count: numbers, or arrays (e.g. one entry per batch or per
    sentence) that are summed first.
    """
    total_nll = float(np.sum(nll_sum))
    tokens = float(np.sum(token_count))
    if tokens <= 0:
        raise ValueError(f"perplexity: needs at least one token, got a token count of {tokens:g}")
    if not np.isfinite(total_nll) or total_nll < 0:
        raise ValueError(f"perplexity: the summed negative log-likelihood must be finite "
                         f"and non-negative, got {total_nll}")
    return float(np.exp(total_nll / tokens))
