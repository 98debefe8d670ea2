"""How far the metrics agree with people (thesis §1.3): Kendall's τ between a
metric's score of each judged caption and the human judgment of it, on the
Flickr8k judgments, by the protocol of the SPICE paper (Anderson et al. 2016)
as CLIPScore (Hessel et al. 2021, appendix A) replicates it.

A judgment says how well a candidate caption c (often written for another
image) describes an image I. It becomes rated pairs (c, references of I,
rating); the metric scores c against the references, and τ compares the
scores with the ratings over all the pairs of a set:

- Flickr8k-Expert: each of the three experts' ratings (1-4) is one pair, so a
  candidate appears three times; a candidate that is one of I's own captions
  (the same text) is skipped; the references are I's five captions. τ-c,
  made for a few ordered categories.
- Flickr8k-CrowdFlower: one pair per judgment, rated by the share of yes
  votes; from I's references, every judged candidate of I that is one of them
  is taken out (once per judgment), so no caption is its own reference. τ-b.

BLEU-n and ROUGE-L of a pair depend on that pair alone. CIDEr-D weights an
n-gram by its rarity among the references of *all the pairs of the set*
(``cider.document_frequency``), as pycocoevalcap's Cider does on the same
input: the three copies of an expert candidate count three times there, as
in CLIPScore's run. Captions are cut by ``tokenize`` (the COCO conventions by
default), each distinct caption once.

The figures to reproduce, ``PUBLISHED``, are CLIPScore's Table 1, ×100; their
"CIDEr" is pycocoevalcap's Cider class, which computes CIDEr-D.
"""
from dataclasses import dataclass

import numpy as np

from .bleu import bleu
from .cider import cider_d
from .kendall import tau_b, tau_c
from .meteor import MetricUnavailable, meteor
from .rouge import rouge_l
from .tokenize import tokenize as coco_tokenize

METRICS = ("BLEU-1", "BLEU-4", "ROUGE-L", "METEOR", "CIDEr-D")
PUBLISHED = {"expert": {"BLEU-1": 0.323, "BLEU-4": 0.308, "ROUGE-L": 0.323,
                        "METEOR": 0.418, "CIDEr-D": 0.439},
             "crowdflower": {"BLEU-1": 0.179, "BLEU-4": 0.169, "ROUGE-L": 0.199,
                             "METEOR": 0.223, "CIDEr-D": 0.246}}
TAU = {"expert": ("tau-c", tau_c), "crowdflower": ("tau-b", tau_b)}
METEOR_NOT_ASKED = "not computed: METEOR was not asked for"
UNDEFINED = "undefined: the scores or the ratings are all equal"


@dataclass
class RatedPairs:
    """The P pairs of one set: pair k is (candidates[k], references[k], ratings[k])."""
    candidates: list      # P captions, as written
    references: list      # P lists of reference captions
    ratings: np.ndarray   # (P,) human ratings
    skipped: int = 0      # judgments left out (expert candidates among their references)


class NothingToScore(ValueError):
    """A set of judgments that leaves no pair to score; ``name`` is the set's."""

    def __init__(self, name, why):
        super().__init__(why)
        self.name = name


def expert_pairs(references, judgments):
    """Flickr8k-Expert pairs. references: {image: [its captions]}; judgments: objects
    with .image, .caption and .ratings (three)."""
    candidates, their_references, ratings, skipped = [], [], [], 0
    for judgment in judgments:
        refs = references[judgment.image]
        if judgment.caption in refs:
            skipped += 1
            continue
        for rating in judgment.ratings:
            candidates.append(judgment.caption)
            their_references.append(refs)
            ratings.append(rating)
    return RatedPairs(candidates, their_references, np.array(ratings, float), skipped)


def crowdflower_pairs(references, judgments):
    """Flickr8k-CrowdFlower pairs (arguments of ``expert_pairs``; .ratings = (share,))."""
    left = {}
    for judgment in judgments:
        refs = left.setdefault(judgment.image, list(references[judgment.image]))
        if judgment.caption in refs:
            refs.remove(judgment.caption)
    empty = [image for image, refs in left.items() if not refs]
    if empty:
        raise NothingToScore("crowdflower", f"every caption of {empty[0]} is among its "
                                            f"judged candidates, which leaves no reference")
    return RatedPairs([j.caption for j in judgments], [left[j.image] for j in judgments],
                      np.array([j.ratings[0] for j in judgments], float))


def metric_scores(pairs, tokenize=coco_tokenize, meteor_wanted=False):
    """{metric: per-pair scores (P,)}, or for METEOR the reason it was not computed.

    BLEU, ROUGE-L and METEOR score a pair from its own caption and references,
    so each distinct pair is scored once (an expert candidate comes three
    times); CIDEr-D depends on the references of all the pairs, so it scores
    every pair, copies included.
    """
    texts = {*pairs.candidates, *(r for refs in pairs.references for r in refs)}
    cut = {text: tokenize(text) for text in texts}
    every = list(zip(pairs.candidates, map(tuple, pairs.references)))
    distinct = list(dict.fromkeys(every))
    row = {pair: i for i, pair in enumerate(distinct)}
    rows = np.array([row[pair] for pair in every])

    def tokens(some_pairs):
        """(references, hypotheses) as the metrics take them: token lists."""
        return ([[cut[r] for r in refs] for _, refs in some_pairs],
                [cut[candidate] for candidate, _ in some_pairs])

    references, hypotheses = tokens(distinct)
    per_pair_bleu = bleu(references, hypotheses)[1][rows]
    scores = {"BLEU-1": per_pair_bleu[:, 0], "BLEU-4": per_pair_bleu[:, 3],
              "ROUGE-L": rouge_l(references, hypotheses)[1][rows],
              "METEOR": METEOR_NOT_ASKED,
              "CIDEr-D": cider_d(*tokens(every))[1]}
    if meteor_wanted:
        try:
            scores["METEOR"] = meteor(references, hypotheses)[1][rows]
        except MetricUnavailable as reason:
            scores["METEOR"] = str(reason)
    return scores


def correlations(name, pairs, scores):
    """{metric: {"tau": τ of the set's variant, "pairs": P}}; where a metric has no
    scores, or τ is undefined (constant scores or ratings), "tau" is None and
    "not_computed" says why."""
    _, tau = TAU[name]
    table = {}
    for metric in METRICS:
        values, size = scores[metric], len(pairs.ratings)
        value = None if isinstance(values, str) else float(tau(values, pairs.ratings))
        if value is None or np.isnan(value):
            why = values if value is None else UNDEFINED
            table[metric] = {"tau": None, "pairs": size, "not_computed": why}
        else:
            table[metric] = {"tau": value, "pairs": size}
    return table


def agreement(references, expert, crowdflower, tokenize=coco_tokenize, meteor_wanted=False):
    """({"expert": {metric: {"tau", "pairs"}}, "crowdflower": {...}},
    {"expert": judgments skipped, "crowdflower": 0}).

    references: {image: [its captions]}; expert, crowdflower: the judgments
    (``caption.data.flickr8k_judgments``).
    """
    result, skipped = {}, {}
    for name, pairs in (("expert", expert_pairs(references, expert)),
                        ("crowdflower", crowdflower_pairs(references, crowdflower))):
        if not len(pairs.ratings):
            raise NothingToScore(name, f"no judgment left to score ({pairs.skipped} skipped: "
                                       f"candidates among their own image's references)")
        result[name] = correlations(name, pairs, metric_scores(pairs, tokenize, meteor_wanted))
        skipped[name] = pairs.skipped
    return result, skipped
