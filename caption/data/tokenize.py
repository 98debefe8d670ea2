"""Raw sentence -> word tokens, the way the vocabulary and the metrics see it.

NLTK's ``TreebankWordTokenizer`` (Penn Treebank rules: "isn't" -> "is", "n't";
"dog's" -> "dog", "'s"; punctuation split off) needs no downloaded NLTK data.
The text is lower-cased first, and tokens with no letter or digit (commas,
periods, quotes, brackets, "--") are dropped, as in Karpathy's token lists.
"""
import functools


@functools.lru_cache(maxsize=1)
def _treebank():
    # Imported here, not at the top: importing nltk takes about 1.5 s, which
    # every user of caption.data would otherwise pay, tokenizing or not.
    from nltk.tokenize.treebank import TreebankWordTokenizer
    return TreebankWordTokenizer()


def tokenize(text):
    """Lower-cased Treebank tokens of ``text`` without punctuation tokens.

    >>> tokenize("A dog's ball, isn't it?")
    ['a', 'dog', "'s", 'ball', 'is', "n't", 'it']
    """
    tokens = _treebank().tokenize(text.lower())
    return [t for t in tokens if any(c.isalnum() for c in t)]
