"""Evaluation metrics of the thesis (§1.3, §5.2, §5.3), written from their
formulas and checked against the COCO caption evaluation (pycocoevalcap 1.2).

``score(references, hypotheses)`` mirrors pycocoevalcap's entry point:
``references`` maps an image id to its list of reference captions and
``hypotheses`` maps the same ids to one generated caption each::

    >>> round(score({1: ["A red circle.", "a red disc"]}, {1: "a red circle"})["BLEU-1"], 6)
    1.0

Each metric lives in its own module, with its formula in the docstring:
bleu, rouge, cider, meteor (the official jar), perplexity, retrieval; and
kendall (rank correlation), agreement (the metrics against Flickr8k's human
judgments), ptb_java (the Java tokenizer the COCO evaluation runs).
"""
from .bleu import bleu
from .cider import cider_d
from .meteor import MetricUnavailable, meteor
from .perplexity import perplexity
from .retrieval import retrieval_metrics
from .rouge import rouge_l
from .tokenize import tokenize

__all__ = ["score", "score_per_image", "bleu", "rouge_l", "cider_d", "meteor",
           "MetricUnavailable", "perplexity", "retrieval_metrics", "tokenize"]


def _token_list(words):
    """A caption given as tokens, checked (tokenized=True)."""
    if isinstance(words, str):
        raise ValueError(f"score: tokenized=True expects token lists, got the string {words!r}")
    return list(words)


def _aligned(references, hypotheses, tokenized):
    """The ids and, in their order, the reference and hypothesis token lists."""
    missing_hyp = [i for i in references if i not in hypotheses]
    missing_ref = [i for i in hypotheses if i not in references]
    if missing_hyp or missing_ref:
        raise ValueError(f"score: the image ids differ; without a hypothesis: "
                         f"{missing_hyp[:5]}, without references: {missing_ref[:5]}")
    if not references:
        raise ValueError("score: no images to evaluate")
    ids = list(references)
    empty = [i for i in ids if len(references[i]) == 0]
    if empty:
        raise ValueError(f"score: images {empty[:5]} have no reference caption")
    cut = _token_list if tokenized else tokenize
    refs = [[cut(r) for r in references[i]] for i in ids]
    hyps = [cut(hypotheses[i]) for i in ids]
    return ids, refs, hyps


def _all_scores(references, hypotheses, tokenized, meteor_wanted):
    """{metric: (corpus score, per-image scores)}, and the ids in order."""
    ids, refs, hyps = _aligned(references, hypotheses, tokenized)
    corpus_bleu, image_bleu = bleu(refs, hyps)
    results = {f"BLEU-{n}": (corpus_bleu[n - 1], image_bleu[:, n - 1]) for n in range(1, 5)}
    results["ROUGE-L"] = rouge_l(refs, hyps)
    results["CIDEr-D"] = cider_d(refs, hyps)
    if meteor_wanted:
        try:
            results["METEOR"] = meteor(refs, hyps)
        except MetricUnavailable as reason:
            results["METEOR"] = (str(reason), None)
    return ids, results


def score(references, hypotheses, tokenized=False, meteor=False):
    """Corpus scores: {"BLEU-1".."BLEU-4", "ROUGE-L", "CIDEr-D": float}.

    references: {image id: [reference caption, ...]}; hypotheses: {image id:
    generated caption}, the same ids. Captions are strings, tokenized here, or
    token lists when ``tokenized=True``. With ``meteor=True`` the dict also has
    "METEOR": a float, or the string "not computed: <why>" when the jar cannot
    run here.
    """
    _, results = _all_scores(references, hypotheses, tokenized, meteor)
    return {name: corpus for name, (corpus, _) in results.items()}


def score_per_image(references, hypotheses, tokenized=False, meteor=False):
    """Per-image scores: {image id: {metric: float}} (the arguments of score).

    METEOR appears only where it could be computed.
    """
    ids, results = _all_scores(references, hypotheses, tokenized, meteor)
    per_metric = {name: images for name, (_, images) in results.items() if images is not None}
    return {image: {name: float(images[k]) for name, images in per_metric.items()}
            for k, image in enumerate(ids)}
