"""METEOR through the official jar: the same numbers as pycocoevalcap's own
wrapper, and the unavailable case reported, not raised, by score().

Starting the jar takes 10 s or more, so the wrapper's numbers are recorded
here rather than computed again: pycocoevalcap 1.2's
``Meteor().compute_score`` on these captions gave 0.36906592770180086 for the
corpus and [1.0, 0.3274499237462559, 0.0] per image."""
import numpy as np
import pytest

from caption.metrics import score
from caption.metrics.meteor import MetricUnavailable, meteor, meteor_jar

try:
    meteor_jar()
    UNAVAILABLE = None
except MetricUnavailable as reason:
    UNAVAILABLE = str(reason)

REFERENCES = [["a red circle above a blue square", "a blue square below a red circle"],
              ["two small green triangles", "a pair of green triangles"],
              ["a dog runs on the grass"]]
HYPOTHESES = ["a red circle above a blue square", "two green triangles", ""]
PYCOCOEVALCAP_CORPUS = 0.36906592770180086
PYCOCOEVALCAP_PER_IMAGE = [1.0, 0.3274499237462559, 0.0]


@pytest.mark.slow
@pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))
def test_meteor_agrees_with_the_pycocoevalcap_wrapper():
    corpus, per_image = meteor([[r.split() for r in refs] for refs in REFERENCES],
                               [h.split() for h in HYPOTHESES])
    assert corpus == pytest.approx(PYCOCOEVALCAP_CORPUS, abs=1e-12)
    np.testing.assert_allclose(per_image, PYCOCOEVALCAP_PER_IMAGE, atol=1e-12)


def test_score_reports_why_meteor_was_not_computed(monkeypatch):
    monkeypatch.setenv("PATH", "")   # no java can be found
    result = score({1: ["a b"]}, {1: "a b"}, meteor=True)
    assert result["METEOR"] == "not computed: java was not found on the PATH"
    assert result["BLEU-1"] == pytest.approx(1.0, abs=1e-8)
