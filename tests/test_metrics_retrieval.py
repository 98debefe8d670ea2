"""Retrieval recall (Karpathy & Fei-Fei 2015 protocol, thesis §5.2) on score
matrices whose ranks are known by construction."""
import numpy as np
import pytest

from caption.metrics.retrieval import annotation_ranks, retrieval_metrics, search_ranks


def test_identity_scores_rank_everything_first():
    images = 1000
    image_of = np.repeat(np.arange(images), 5)               # 5 sentences per image
    scores = (image_of[None, :] == np.arange(images)[:, None]).astype(float)
    result = retrieval_metrics(scores, image_of)
    for direction in ("annotation", "search"):
        assert result[direction] == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0,
                                     "median_rank": 1.0}


def test_known_permutation_gives_known_ranks():
    # Row k holds the distinct scores 0, -1, ..., -(n-1), arranged so that
    # image k's own sentence sits at position target[k].
    n = 100
    target = np.random.default_rng(0).permutation(n) + 1
    k, l = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    scores = -((l - k + target[:, None] - 1) % n).astype(float)
    image_of = np.arange(n)
    np.testing.assert_array_equal(annotation_ranks(scores, image_of), target)
    # With one sentence per image, searching S.T is annotating S.
    np.testing.assert_array_equal(search_ranks(scores.T, image_of), target)
    expected = {"R@1": 1.0, "R@5": 5.0, "R@10": 10.0, "median_rank": 50.0}
    assert retrieval_metrics(scores, image_of)["annotation"] == expected
    assert retrieval_metrics(scores.T, image_of)["search"] == expected


def test_annotation_uses_the_best_own_sentence():
    image_of = np.array([0, 0, 1, 1])
    scores = np.array([[0.1, 0.9, 0.5, 0.95],
                       [0.2, 0.3, 0.1, 0.0]])
    np.testing.assert_array_equal(annotation_ranks(scores, image_of), [2, 3])
    np.testing.assert_array_equal(search_ranks(scores, image_of), [2, 1, 2, 2])
    result = retrieval_metrics(scores, image_of)
    assert result["annotation"]["median_rank"] == 2.0      # floor(median(1, 2)) + 1
    assert result["search"]["R@1"] == 25.0


def test_ties_count_against_the_model():
    image_of = np.repeat(np.arange(4), 5)
    scores = np.zeros((4, 20))
    np.testing.assert_array_equal(annotation_ranks(scores, image_of), 16)
    np.testing.assert_array_equal(search_ranks(scores, image_of), 4)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="have no sentence"):
        retrieval_metrics(np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\(images, sentences\)"):
        retrieval_metrics(np.zeros((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="integer image indices"):
        retrieval_metrics(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(np.full((1, 1), np.nan), np.array([0]))
