"""caption.agreement: the protocol on judgments written here, the readers'
errors, and the published figures of CLIPScore's Table 1 reproduced on the
real release beside the checkout (to 0.1 on the x100 scale)."""
import json
from pathlib import Path

import numpy as np
import pytest

from caption.agreement import main
from caption.data.flickr8k import read_captions
from caption.data.flickr8k_judgments import (CROWDFLOWER_FILE, EXPERT_FILE, Judgment,
                                             read_crowdflower, read_expert)
from caption.data.karpathy import DatasetError
from caption.metrics.agreement import (METRICS, PUBLISHED, correlations, crowdflower_pairs,
                                       expert_pairs, metric_scores)
from caption.metrics.meteor import MetricUnavailable, meteor_jar

RELEASE = Path(__file__).resolve().parents[1].parent / "shared" / "flickr8k"
REFERENCES = {"a.jpg": ["a dog runs", "a brown dog", "the dog runs fast"],
              "b.jpg": ["two kids play", "kids play soccer", "children in a park"]}

try:
    meteor_jar()
    NO_METEOR = None
except MetricUnavailable as reason:
    NO_METEOR = str(reason)


def test_expert_pairs_one_per_rating_and_own_captions_skipped():
    pairs = expert_pairs(REFERENCES, [Judgment("a.jpg", "two kids play", (1, 2, 1)),
                                      Judgment("a.jpg", "a brown dog", (4, 4, 4)),
                                      Judgment("b.jpg", "a dog runs", (1, 1, 2))])
    assert pairs.skipped == 1
    assert pairs.candidates == ["two kids play"] * 3 + ["a dog runs"] * 3
    assert pairs.references == [REFERENCES["a.jpg"]] * 3 + [REFERENCES["b.jpg"]] * 3
    np.testing.assert_array_equal(pairs.ratings, [1, 2, 1, 1, 1, 2])


def test_crowdflower_pairs_take_the_judged_candidates_out_of_the_references():
    judgments = [Judgment("a.jpg", "a dog runs", (1.0,)),
                 Judgment("a.jpg", "kids play soccer", (0.0,)),
                 Judgment("a.jpg", "a brown dog", (2 / 3,)),
                 Judgment("b.jpg", "a dog runs", (0.0,))]
    pairs = crowdflower_pairs(REFERENCES, judgments)
    assert pairs.references[:3] == [["the dog runs fast"]] * 3
    assert pairs.references[3] == REFERENCES["b.jpg"]
    assert pairs.candidates == [j.caption for j in judgments] and pairs.skipped == 0
    with pytest.raises(ValueError, match="a.jpg is among its judged candidates"):
        crowdflower_pairs(REFERENCES, judgments + [Judgment("a.jpg", "the dog runs fast", (1,))])


def test_scores_and_correlations_of_a_small_set():
    judgments = [Judgment(image, caption, (rating,) * 3) for image, caption, rating in
                 [("a.jpg", "a dog runs fast", 4), ("a.jpg", "a dog", 3), ("a.jpg", "a cat", 1),
                  ("b.jpg", "kids play in a park", 4), ("b.jpg", "a dog runs", 1)]]
    pairs = expert_pairs(REFERENCES, judgments)
    scores = metric_scores(pairs)
    assert scores["METEOR"] == "not computed: METEOR was not asked for"
    assert all(len(scores[m]) == 15 for m in METRICS if m != "METEOR")
    assert scores["BLEU-1"][0] == pytest.approx(1.0)      # every word of it is in a reference
    table = correlations("expert", pairs, scores)
    assert table["CIDEr-D"]["pairs"] == 15 and table["CIDEr-D"]["tau"] > 0.5
    assert table["METEOR"] == {"tau": None, "pairs": 15,
                               "not_computed": "not computed: METEOR was not asked for"}


def write_release(folder, expert_lines, crowdflower_lines):
    folder.mkdir(exist_ok=True)
    (folder / "Flickr8k.token.txt").write_text(
        "".join(f"{image}#{k}\t{raw}\n" for image, raws in REFERENCES.items()
                for k, raw in enumerate(raws)))
    (folder / EXPERT_FILE).write_text("".join(line + "\n" for line in expert_lines))
    (folder / CROWDFLOWER_FILE).write_text("".join(line + "\n" for line in crowdflower_lines))
    return folder


GOOD_EXPERT = ["a.jpg\tb.jpg#0\t1\t1\t2", "a.jpg\ta.jpg#1\t4\t4\t4", "b.jpg\ta.jpg#2\t1\t2\t1",
               "b.jpg\tb.jpg#1\t3\t4\t4"]
GOOD_CROWDFLOWER = ["a.jpg\ta.jpg#0\t1\t3\t0", "a.jpg\tb.jpg#2\t0\t0\t3",
                    "a.jpg\tb.jpg#1\t0.333333333333333\t1\t2", "b.jpg\tb.jpg#0\t0.75\t3\t1",
                    "b.jpg\ta.jpg#0\t0\t0\t4"]


def test_readers_resolve_caption_ids(tmp_path):
    release = write_release(tmp_path / "r", GOOD_EXPERT, GOOD_CROWDFLOWER)
    captions = read_captions(release)
    assert read_expert(release, captions)[0] == Judgment("a.jpg", "two kids play", (1, 1, 2))
    assert read_crowdflower(release, captions)[2] == Judgment("a.jpg", "kids play soccer",
                                                              (0.333333333333333,))


@pytest.mark.parametrize("reader, name, line, message", [
    (read_expert, EXPERT_FILE, "a.jpg\tb.jpg#0\t1\t1", "line 2: expected 5 tab-separated columns"),
    (read_expert, EXPERT_FILE, "a.jpg\tb.jpg#7\t1\t1\t1", "line 2: caption b.jpg#7 is not in"),
    (read_expert, EXPERT_FILE, "z.jpg\tb.jpg#0\t1\t1\t1", "line 2: image z.jpg has no caption"),
    (read_expert, EXPERT_FILE, "a.jpg\tb.jpg#0\t1\t5\t1",
     "line 2: ratings [1, 5, 1] should be in"),
    (read_expert, EXPERT_FILE, "a.jpg\tb.jpg#0\t1\tgood\t1", "line 2: expected int values"),
    (read_crowdflower, CROWDFLOWER_FILE, "a.jpg\tb.jpg#0\t0.5\t3\t0",
     "line 2: share of yes 0.5 does not match 3 yes and 0 no votes"),
    (read_crowdflower, CROWDFLOWER_FILE, "a.jpg\tb.jpg\t0\t0\t3",
     "line 2: caption id 'b.jpg' is not '<image file>#<caption number>'"),
])
def test_reader_errors_name_the_file_and_line(tmp_path, reader, name, line, message):
    release = write_release(tmp_path / "r", [GOOD_EXPERT[0], line], [GOOD_CROWDFLOWER[0], line])
    with pytest.raises(DatasetError) as caught:
        reader(release, read_captions(release))
    assert str(caught.value).startswith(f"{release / name}: {message}")


def test_command_on_a_small_release(tmp_path, capsys):
    release = write_release(tmp_path / "r", GOOD_EXPERT, GOOD_CROWDFLOWER)
    assert main([str(release), "--json", str(tmp_path / "tau.json")]) == 0
    out = capsys.readouterr().out
    assert "6 pairs, 2 skipped" in out and "5 pairs" in out
    assert "-: not computed: METEOR was not asked for (pass --meteor)" in out
    written = json.loads((tmp_path / "tau.json").read_text())
    assert set(written) == {"expert", "crowdflower"}
    assert set(written["expert"]) == set(METRICS)
    assert written["crowdflower"]["BLEU-1"]["pairs"] == 5
    # both expert candidates left score a ROUGE-L of 0: tau undefined, said so, not NaN
    assert written["expert"]["ROUGE-L"] == {"tau": None, "pairs": 6,
                                            "not_computed": "undefined: the scores or the "
                                                            "ratings are all equal"}


def test_command_reports_a_missing_file(tmp_path, capsys):
    release = write_release(tmp_path / "r", GOOD_EXPERT, GOOD_CROWDFLOWER)
    (release / CROWDFLOWER_FILE).unlink()
    assert main([str(release)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {release / CROWDFLOWER_FILE}: cannot read")
    assert main([str(release), "--json", str(tmp_path / "no" / "tau.json")]) == 1
    assert "its folder does not exist" in capsys.readouterr().err


def needs_release():
    if not (RELEASE / EXPERT_FILE).is_file():
        pytest.skip(f"the Flickr8k text release is not at {RELEASE}")


@pytest.mark.slow
def test_published_figures_reproduced(tmp_path, capsys):
    """CLIPScore's Table 1, BLEU-1, BLEU-4, ROUGE-L and CIDEr: each within 0.1 (x100)."""
    needs_release()
    assert main([str(RELEASE), "--json", str(tmp_path / "tau.json")]) == 0
    result = json.loads((tmp_path / "tau.json").read_text())
    assert result["expert"]["BLEU-1"]["pairs"] == 3 * (5822 - 158)
    assert result["crowdflower"]["BLEU-1"]["pairs"] == 47830
    for name, published in PUBLISHED.items():
        for metric, tau in published.items():
            if metric != "METEOR":
                assert abs(100 * result[name][metric]["tau"] - 100 * tau) < 0.1, (name, metric)
    assert "CIDEr-D    43.89       43.9            24.62       24.6" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.skipif(NO_METEOR is not None, reason=str(NO_METEOR))
def test_published_meteor_figure_on_the_expert_set():
    """METEOR on Flickr8k-Expert within 0.1 of 41.8 (the CrowdFlower figure, 22.27 against
    22.3, takes a minute more of the jar: run python -m caption.agreement --meteor)."""
    needs_release()
    captions = read_captions(RELEASE)
    references = {image: list(by_k.values()) for image, by_k in captions.items()}
    pairs = expert_pairs(references, read_expert(RELEASE, captions))
    table = correlations("expert", pairs, metric_scores(pairs, meteor_wanted=True))
    assert abs(100 * table["METEOR"]["tau"] - 100 * PUBLISHED["expert"]["METEOR"]) < 0.1
