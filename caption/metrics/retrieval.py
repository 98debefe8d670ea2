"""Image-sentence retrieval metrics, the protocol of Karpathy & Fei-Fei 2015
used in §5.2 of the thesis (scores S_kl = v_kᵀ s_l of eq. 3.6).

With S the score matrix (I images × L sentences) and image_of[l] the image
that sentence l describes:

- image annotation (image -> sentences): sort all L sentences by S[k, :];
  the rank of image k is the position (1-based) of the best-placed of its
  own sentences;
- image search (sentence -> image): sort all I images by S[:, l]; the rank
  of sentence l is the position of image_of[l].

R@K is the percentage of queries whose rank is at most K; the median rank is
floor(median(rank - 1)) + 1, the convention of the common evaluation code
(it equals the plain median for an odd number of queries). Ties count against
the model: a candidate scoring exactly as the right answer is placed above it,
so a constant score matrix gets the worst ranks, not the best.
"""
import numpy as np

from nnscratch.backend import to_cpu

RECALL_AT = (1, 5, 10)


def _check(scores, image_of):
    """Arrays (I, L) and (L,) after checking shapes, ids and values."""
    scores = np.asarray(to_cpu(scores), dtype=float)
    image_of = np.asarray(to_cpu(image_of))
    if scores.ndim != 2 or image_of.shape != (scores.shape[1],):
        raise ValueError(f"retrieval: scores must be (images, sentences) and image_of "
                         f"(sentences,), got {scores.shape} and {image_of.shape}")
    if scores.shape[0] == 0:
        raise ValueError("retrieval: the score matrix has no images")
    if not np.issubdtype(image_of.dtype, np.integer) or (
            image_of.size and not 0 <= image_of.min() <= image_of.max() < scores.shape[0]):
        raise ValueError(f"retrieval: image_of must hold integer image indices in "
                         f"[0, {scores.shape[0]}), got {image_of.dtype} values")
    if not np.isfinite(scores).all():
        raise ValueError("retrieval: the score matrix holds NaN or infinite values")
    missing = np.setdiff1d(np.arange(scores.shape[0]), image_of)
    if missing.size:
        raise ValueError(f"retrieval: images {missing[:5].tolist()} have no sentence, "
                         f"so their annotation rank is undefined")
    return scores, image_of


def annotation_ranks(scores, image_of):
    """Rank (1-based) of the best-ranked own sentence of each image, (I,)."""
    scores, image_of = _check(scores, image_of)
    own = image_of[None, :] == np.arange(scores.shape[0])[:, None]
    best_own = np.where(own, scores, -np.inf).max(axis=1)
    return 1 + ((scores >= best_own[:, None]) & ~own).sum(axis=1)


def search_ranks(scores, image_of):
    """Rank (1-based) of each sentence's own image among all images, (L,)."""
    scores, image_of = _check(scores, image_of)
    own_score = scores[image_of, np.arange(scores.shape[1])]
    return (scores >= own_score[None, :]).sum(axis=0)


def recall_summary(ranks):
    """{"R@1", "R@5", "R@10": percentages, "median_rank"} of 1-based ranks."""
    ranks = np.asarray(ranks)
    summary = {f"R@{k}": float(100.0 * np.mean(ranks <= k)) for k in RECALL_AT}
    summary["median_rank"] = float(np.floor(np.median(ranks - 1)) + 1)
    return summary


def retrieval_metrics(scores, image_of):
    """{"annotation": recall_summary(...), "search": recall_summary(...)}.

    scores: (I, L) image-by-sentence scores; image_of: (L,) integer image
    index of each sentence (every image needs at least one sentence).
    """
    return {"annotation": recall_summary(annotation_ranks(scores, image_of)),
            "search": recall_summary(search_ranks(scores, image_of))}
