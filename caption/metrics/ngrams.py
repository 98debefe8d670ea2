"""n-gram counts of a token list: what BLEU and CIDEr-D compare."""
from collections import Counter


def ngram_counts(tokens, max_n=4):
    """Count every n-gram of ``tokens`` for n = 1..max_n.

    Returns a Counter whose keys are tuples of n words (their length says n):
    ``ngram_counts(['a', 'a', 'b'], 2)`` is
    ``{('a',): 2, ('b',): 1, ('a', 'a'): 1, ('a', 'b'): 1}``.
    """
    return Counter(tuple(tokens[i:i + n])
                   for n in range(1, max_n + 1)
                   for i in range(len(tokens) - n + 1))
