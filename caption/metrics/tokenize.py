"""Tokenization for the metrics, after the conventions of the COCO caption
evaluation (thesis §1.3: scores are only comparable with published ones when
the sentences are cut into words the same way).

The COCO code runs the Stanford PTB tokenizer in Java with ``-lowerCase`` and
then drops the punctuation tokens listed in ``PUNCTUATION``. Here NLTK's
``TreebankWordTokenizer`` (pure Python, no downloaded data) does the cutting,
with three touches that bring it closer to the Java tokenizer:

- tokens are lower-cased *after* cutting, as ``-lowerCase`` does, so a
  bracket becomes ``-lrb-``. The COCO list names ``-LRB-`` in capitals, so
  brackets survive there as ``-lrb-`` tokens; they survive here too;
- a word followed by periods inside the caption ("two dogs play. one is
  black") loses them, as the Java tokenizer splits sentence-final periods
  anywhere, while NLTK's Treebank rules only split the last one;
- runs of periods ("..") become one token and are dropped like "...".

What still differs (rare in captions): abbreviations that the Java tokenizer
keeps whole ("st." stays "st." there, becomes "st" here) and single quotes
that open a quotation ("'quoted'").
"""
import functools
import re

PUNCTUATION = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-",
                         "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...",
                         ";"])
"""The tokens the COCO evaluation removes, spelled as its list spells them."""

_WORD_THEN_PERIODS = re.compile(r"^(\w+)(\.+)$")
_ONLY_PERIODS = re.compile(r"^\.+$")


@functools.lru_cache(maxsize=1)
def _treebank():
    # Imported on first use: importing nltk takes over a second, which every
    # user of caption.metrics would otherwise pay, tokenizing or not.
    from nltk.tokenize import TreebankWordTokenizer
    return TreebankWordTokenizer()


def _split_periods(token):
    """'play.' -> ['play', '.'];  '..' -> ['...'];  'e.g.' stays whole."""
    if _ONLY_PERIODS.match(token):
        return ["..." if len(token) > 1 else "."]
    match = _WORD_THEN_PERIODS.match(token)
    if match is None:
        return [token]
    return [match.group(1)] + _split_periods(match.group(2))


def tokenize(text):
    """One caption -> its list of lower-case word tokens, punctuation removed.

    >>> tokenize("A man (in red) rides a bike. It's fast!")
    ['a', 'man', '-lrb-', 'in', 'red', '-rrb-', 'rides', 'a', 'bike', 'it', "'s", 'fast']
    """
    if not isinstance(text, str):
        raise ValueError(f"tokenize: expected a caption string, got {type(text).__name__}")
    tokens = _treebank().tokenize(text.replace("\n", " "), convert_parentheses=True)
    words = [piece.lower() for token in tokens for piece in _split_periods(token)]
    return [word for word in words if word not in PUNCTUATION]
