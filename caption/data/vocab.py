"""The word vocabulary of the captioner and of the sentence encoder.

Words seen at least ``min_count`` times in the training sentences (5 by
default, as in neuraltalk) get an id; every other word maps to ``<unk>``, the
UNK word of §3.6.2 of the thesis, "a word like any other of the vocabulary".
Four special words come first::

    0 <pad>    fills a batch row after its sentence ends (masked out)
    1 <start>  the input at the first time step
    2 <end>    the target after the last word; generation stops on it
    3 <unk>    any word outside the vocabulary

then the words by decreasing count (ties alphabetically), so a vocabulary is
the same whatever the order of the sentences. Saved as JSON beside a run.
"""
import json
from collections import Counter
from pathlib import Path

from .files import read_json

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
FORMAT = "nnscratch-vocabulary-v1"


class Vocabulary:
    """A fixed list of words; a word's id is its position in ``words``."""

    def __init__(self, words, min_count=5):
        words = list(words)
        strange = [w for w in words if not isinstance(w, str) or not w]
        if strange:
            raise ValueError(f"Vocabulary: every word must be a non-empty string, "
                             f"got {strange[0]!r}")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"Vocabulary: min_count must be a positive integer, "
                             f"got {min_count!r}")
        if tuple(words[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"Vocabulary: the words must start with {SPECIALS}, "
                             f"got {words[:len(SPECIALS)]}")
        if len(set(words)) != len(words):
            raise ValueError("Vocabulary: a word appears twice")
        self.words = words
        self.min_count = min_count
        self.ids = {w: i for i, w in enumerate(words)}
        self.pad_id, self.start_id, self.end_id, self.unk_id = range(len(SPECIALS))
        # what a decoded caption never says: <pad> and <start> are never a target, and
        # <unk> names no word (a caption "in front of a <unk> building" tells a user nothing)
        self.unsaid_ids = (self.pad_id, self.start_id, self.unk_id)

    @classmethod
    def build(cls, sentences, min_count=5):
        """The vocabulary of ``sentences`` (an iterable of token lists)."""
        counts = Counter(w for tokens in sentences for w in tokens)
        kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS),
                      key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + kept, min_count)

    def __len__(self):
        return len(self.words)

    def __eq__(self, other):
        return (isinstance(other, Vocabulary) and self.words == other.words
                and self.min_count == other.min_count)

    def __contains__(self, word):
        return word in self.ids

    def encode(self, tokens):
        """Token list -> id list (unknown words -> ``unk_id``); no <start>/<end> added."""
        return [self.ids.get(w, self.unk_id) for w in tokens]

    def decode(self, ids):
        """Id sequence -> words: stops at the first <end>, skips <pad> and <start>."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i not in (self.pad_id, self.start_id):
                words.append(self.words[i])
        return words

    def to_json(self):
        """The vocabulary as the JSON text that ``save`` writes and ``load`` reads."""
        data = {"format": FORMAT, "min_count": self.min_count, "words": self.words}
        return json.dumps(data, ensure_ascii=False, indent=0)

    def save(self, path):
        """Write the vocabulary as JSON (``load`` reads it back equal)."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by ``save``."""
        try:
            data = read_json(path)
        except (OSError, ValueError) as err:   # ValueError: malformed JSON or UTF-8
            raise ValueError(f"{path}: cannot read a vocabulary: {err}") from err
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a vocabulary file (expected format {FORMAT!r})")
        return cls(data["words"], data["min_count"])
