"""Our BLEU, ROUGE-L and CIDEr-D against pycocoevalcap 1.2 on the same tokens:
equal to 1e-9, corpus and per-image, on a random corpus built to hit the edge
cases (empty and very short hypotheses, repeated n-grams, unequal numbers of
references, a few empty references)."""
import numpy as np
import pytest

from caption.metrics import bleu, cider_d, rouge_l, score

pytest.importorskip("pycocoevalcap")
from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402

VOCABULARY = ["a", "red", "blue", "circle", "square", "above", "the", "small"]
GROUPS = 600


def random_sentence(rng, lengths):
    words = rng.choice(VOCABULARY, size=rng.choice(lengths))
    return [str(w) for w in words]


@pytest.fixture(scope="module")
def corpus():
    """(references, hypotheses): GROUPS groups of token lists."""
    rng = np.random.default_rng(0)
    references, hypotheses = [], []
    for g in range(GROUPS):
        n_refs = 5 if g % 4 else int(rng.integers(1, 8))
        refs = [random_sentence(rng, range(1, 13)) for _ in range(n_refs)]
        if g % 25 == 10:  # some with an empty hypothesis too
            refs[0] = []
        kind = g % 10
        if kind == 0:
            hyp = []
        elif kind == 1:
            hyp = random_sentence(rng, [1, 2, 3])
        elif kind == 2:
            hyp = ["a", "red"] * int(rng.integers(1, 5))
        elif kind == 3:
            hyp = list(refs[int(rng.integers(len(refs)))])
        else:
            hyp = random_sentence(rng, range(1, 16))
        references.append(refs)
        hypotheses.append(hyp)
    return references, hypotheses


@pytest.fixture(scope="module")
def coco_inputs(corpus):
    """The same corpus as pycocoevalcap takes it: id -> space-joined strings."""
    references, hypotheses = corpus
    gts = {g: [" ".join(r) for r in refs] for g, refs in enumerate(references)}
    res = {g: [" ".join(h)] for g, h in enumerate(hypotheses)}
    return gts, res


def test_corpus_has_the_edge_cases(corpus):
    references, hypotheses = corpus
    assert sum(len(h) == 0 for h in hypotheses) >= 50
    assert sum(0 < len(h) < 4 for h in hypotheses) >= 50
    assert len({len(refs) for refs in references}) >= 5


def test_bleu_matches_pycocoevalcap(corpus, coco_inputs):
    theirs, theirs_per_image = Bleu(4).compute_score(*coco_inputs, verbose=0)
    ours, ours_per_image = bleu(*corpus)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours_per_image, np.array(theirs_per_image).T, rtol=0, atol=1e-9)
    assert 0.05 < ours[3] < ours[0] < 0.95  # not a degenerate corpus


def test_rouge_matches_pycocoevalcap(corpus, coco_inputs):
    theirs, theirs_per_image = Rouge().compute_score(*coco_inputs)
    ours, ours_per_image = rouge_l(*corpus)
    assert abs(ours - theirs) < 1e-9
    np.testing.assert_allclose(ours_per_image, theirs_per_image, rtol=0, atol=1e-9)


def test_cider_matches_pycocoevalcap(corpus, coco_inputs):
    theirs, theirs_per_image = Cider().compute_score(*coco_inputs)
    ours, ours_per_image = cider_d(*corpus)
    assert abs(ours - theirs) < 1e-9
    np.testing.assert_allclose(ours_per_image, theirs_per_image, rtol=0, atol=1e-9)
    assert ours > 0.1


def test_score_entry_point_gives_the_same_numbers(corpus, coco_inputs):
    references, hypotheses = corpus
    ours = score(dict(enumerate(references)), dict(enumerate(hypotheses)), tokenized=True)
    theirs_bleu, _ = Bleu(4).compute_score(*coco_inputs, verbose=0)
    assert list(ours) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]
    np.testing.assert_allclose([ours[f"BLEU-{n}"] for n in range(1, 5)], theirs_bleu,
                               rtol=0, atol=1e-9)
    assert abs(ours["CIDEr-D"] - Cider().compute_score(*coco_inputs)[0]) < 1e-9
