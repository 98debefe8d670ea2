"""Captions of the shapes dataset, and scoring captions against scenes.

Every caption names every object with its size, colour and shape. Objects of
the same size, colour and shape are counted together ("two small red
circles"). Five captions per image, from several phrasings:

- lists:     "there are two small red circles and a large blue square",
             "an image of ...", "a picture showing ...", "... on a noisy background"
- relations (two or more objects): "a large blue square is to the left of two
             small red circles", "there is a small green triangle above ...",
             chained for three: "... which is below a small white circle";
             for identical objects: "two small red circles one above the other",
             "three small red circles in a row" (or "in a column", "scattered
             across the image"). Every scene of two or more objects has one.

``attribute_scores`` reads the (colour, shape) pairs back out of any caption
and compares them with the scene's (see its docstring).
"""
import itertools

from .shapes_scene import COLOURS, SHAPES
from .tokenize import tokenize

COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
SIZE_WORDS = ("small", "large")
RELATIONS = {"left": "to the left of", "right": "to the right of",
             "above": "above", "below": "below"}
LIST_TEMPLATES = ("there {be} {objects}", "{objects}", "an image of {objects}",
                  "a picture showing {objects}", "{objects} on a noisy background")
RELATION_CAPTIONS = 3    # of the five, when the scene has a relation to state
CAPTIONS_PER_IMAGE = 5


def write_captions(scene, rng):
    """Five distinct captions of ``scene``, each a list of words (commas kept as ",")."""
    groups = _groups(scene)
    relational = sorted(set(_relation_captions(groups)))
    chosen = [relational[i] for i in
              rng.permutation(len(relational))[:RELATION_CAPTIONS].tolist()]
    for template in rng.permutation(len(LIST_TEMPLATES))[:CAPTIONS_PER_IMAGE - len(chosen)]:
        order = [groups[i] for i in rng.permutation(len(groups)).tolist()]
        chosen.append(LIST_TEMPLATES[template].format(be=_be(order[0]), objects=_join(order)))
    return [chosen[i].split() for i in rng.permutation(len(chosen)).tolist()]


def caption_text(words):
    """Words -> the raw sentence: capitalised, commas attached, a final period."""
    text = " ".join(words).replace(" ,", ",")
    return text[0].upper() + text[1:] + "."


def _groups(scene):
    """Objects of equal (size, colour, shape) together, in order of first appearance."""
    groups = {}
    for obj in scene:
        groups.setdefault((obj["size"], obj["colour"], obj["shape"]), []).append(obj)
    return list(groups.values())


def _phrase(group):
    """"a small red circle", "two large blue squares"."""
    size, colour, shape = group[0]["size"], group[0]["colour"], group[0]["shape"]
    plural = "s" if len(group) > 1 else ""
    return f"{COUNT_WORDS[len(group)]} {size} {colour} {shape}{plural}"


def _be(group):
    return "is" if len(group) == 1 else "are"


def _join(groups):
    """"A", "A and B", "A , B and C"."""
    phrases = [_phrase(g) for g in groups]
    if len(phrases) == 1:
        return phrases[0]
    return " , ".join(phrases[:-1]) + " and " + phrases[-1]


def _holds(first, second):
    """The relations that hold between every object of ``first`` and every one of ``second``."""
    tests = {"left": lambda a, b: a["col"] < b["col"], "right": lambda a, b: a["col"] > b["col"],
             "above": lambda a, b: a["row"] < b["row"], "below": lambda a, b: a["row"] > b["row"]}
    return [name for name, test in tests.items()
            if all(test(a, b) for a in first for b in second)]


def _relation_captions(groups):
    """Every relational caption of the scene (as text), possibly none."""
    captions = []
    for group in groups:
        others = [g for g in groups if g is not group]
        if _within(group):
            captions.append(_within(group) + (" and " + _join(others) if others else ""))
    for a, b in itertools.permutations(groups, 2):
        rest = [g for g in groups if g is not a and g is not b]
        for relation in _holds(a, b):
            subject, where = _phrase(a), f"{RELATIONS[relation]} {_phrase(b)}"
            for tail in _tails(b, rest):
                captions.append(f"{subject} {_be(a)} {where}{tail}")
                captions.append(f"there {_be(a)} {subject} {where}{tail}")
    return captions


def _tails(last, rest):
    """How a two-group clause ending in ``last`` goes on to mention the other group."""
    if not rest:
        return [""]
    (other,) = rest
    chained = [f" which {_be(last)} {RELATIONS[r]} {_phrase(other)}" for r in _holds(last, other)]
    return chained or [f" and there {_be(other)} also {_phrase(other)}"]


def _within(group):
    """Where identical objects lie relative to each other ("" for a single object)."""
    rows = {obj["row"] for obj in group}
    cols = {obj["col"] for obj in group}
    if len(group) == 2:
        first, second = sorted(group, key=lambda obj: (obj["row"], obj["col"]))
        if len(rows) == 1:
            return f"{_phrase(group)} one to the left of the other"
        side = "" if len(cols) == 1 else (" and to the left of" if first["col"] < second["col"]
                                          else " and to the right of")
        return f"{_phrase(group)} one above{side} the other"
    if len(group) == 3:
        line = "in a row" if len(rows) == 1 else "in a column" if len(cols) == 1 else ""
        return f"{_phrase(group)} {line or 'scattered across the image'}"
    return ""


def mentioned_pairs(tokens):
    """The (colour, shape) pairs a token list names: a colour word followed by a
    shape word (singular or plural), with at most one size word between."""
    pairs = set()
    for i, word in enumerate(tokens):
        if word not in COLOURS:
            continue
        following = tokens[i + 1:i + 3]
        if following and following[0] in SIZE_WORDS:
            following = following[1:]
        if following and _singular(following[0]) in SHAPES:
            pairs.add((word, _singular(following[0])))
    return pairs


def _singular(word):
    return word[:-1] if word.endswith("s") and word[:-1] in SHAPES else word


def attribute_scores(captions, scenes):
    """Precision and recall of the (colour, shape) pairs captions name.

    captions: one caption per scene, each a string (tokenized with
              ``caption.data.tokenize``) or a list of words.
    scenes:   the ground-truth scenes (lists of object dicts).

    Per image, M is the set of pairs the caption names and S the set of pairs in
    the scene. Micro-averaged over the images:

        precision = sum |M ∩ S| / sum |M|      recall = sum |M ∩ S| / sum |S|

    (0.0 where the denominator is 0). To score several captions per image,
    repeat its scene once per caption.
    """
    if len(captions) != len(scenes):
        raise ValueError(f"attribute_scores: {len(captions)} captions but {len(scenes)} scenes")
    hits = named = present = 0
    for caption, scene in zip(captions, scenes):
        tokens = tokenize(caption) if isinstance(caption, str) else list(caption)
        mentioned = mentioned_pairs(tokens)
        truth = {(obj["colour"], obj["shape"]) for obj in scene}
        hits += len(mentioned & truth)
        named += len(mentioned)
        present += len(truth)
    return {"precision": hits / named if named else 0.0,
            "recall": hits / present if present else 0.0}
