"""The thesis's experiments on real photos, end to end on a few hundred of
Flickr8k's images (``../shared/flickr8k``, beside the checkout; skipped
without it): the text release to Karpathy's JSON, SqueezeNet features with
their regions, the caption generator with attention over them and the
ranking model (§5.2, §5.3), their evaluation, and a photo described with its
attention map. The figures of the full runs are in the README; these runs
are a minute's worth and check that every step works on photos."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from caption import describe, evaluate, features, train
from caption.data.flickr8k import convert

RELEASE = Path(__file__).resolve().parents[1].parent / "shared" / "flickr8k"
IMAGES = RELEASE / "images"
PER_SPLIT = {"train": 200, "val": 50, "test": 50}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not IMAGES.is_dir(), reason="no ../shared/flickr8k/images")]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """(a Karpathy JSON of the first images of each split, their SqueezeNet features)."""
    folder = tmp_path_factory.mktemp("flickr8k")
    dataset = convert(RELEASE)
    kept = [image for split, count in PER_SPLIT.items()
            for image in [im for im in dataset["images"] if im["split"] == split][:count]]
    data = folder / "dataset.json"
    data.write_text(json.dumps({"dataset": "flickr8k", "images": kept}))
    feats = folder / "f8k.h5"
    assert features.main(["--data", str(data), "--images", str(IMAGES), "--out", str(feats),
                          "--quiet"]) == 0
    return data, feats


@pytest.fixture(scope="module")
def captioner(photos, tmp_path_factory):
    data, feats = photos
    run = tmp_path_factory.mktemp("runs") / "caption"
    assert train.main(["--data", str(data), "--features", str(feats), "--epochs", "1",
                       "--embed-size", "32", "--hidden-size", "32", "--attention", "16",
                       "--min-count", "2", "--quiet", "--out", str(run)]) == 0
    return run


def test_the_defaults_on_photos_are_squeezenet_with_attention(captioner):
    config = json.loads((captioner / "config.json").read_text())
    assert (config["cnn"], config["attention"], config["region_size"]) == ("squeezenet", 16, 512)
    metrics = json.loads((captioner / "metrics.json").read_text())
    assert all(math.isfinite(metrics[k]) for k in ("BLEU-4", "CIDEr-D", "perplexity"))
    assert 0 < metrics["distinct captions"] <= 1 and metrics["words used"] >= 1


def test_evaluate_reports_diversity_and_draws_attention_over_the_photos(captioner, capsys):
    assert evaluate.main(["--run", str(captioner), "--sample", "2", "--images", str(IMAGES)]) == 0
    printed = capsys.readouterr().out
    assert "distinct captions" in printed and "novel captions" in printed
    page = (captioner / "report.html").read_text(encoding="utf-8")
    assert "Where the model looks, word by word" in page
    assert len(list((captioner / "report_images").glob("attention*.png"))) == 2


def test_a_photo_of_any_size_is_described_with_its_attention_map(captioner, photos, tmp_path,
                                                                  capsys):
    data, _ = photos
    name = json.loads(data.read_text())["images"][-1]["filename"]    # a test photo
    wide = tmp_path / "wide.jpg"                                      # not square, not 224
    with Image.open(IMAGES / name) as photo:
        photo.resize((500, 300)).convert("L").save(wide)             # greyscale, too
    assert describe.main([str(wide), "--run", str(captioner), "--top", "2",
                          "--attention-map", str(tmp_path / "map.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(wide) and len(out) == 3
    scores = [float(line.split("(score ")[1].split(",")[0]) for line in out[1:]]
    assert scores[0] >= scores[1]                      # the order is the figure shown
    with Image.open(tmp_path / "map.png") as sheet:
        assert sheet.size[0] > 128


def test_the_ranking_model_on_photos(photos, tmp_path):
    data, feats = photos
    run = tmp_path / "rank"
    assert train.main(["--task", "rank", "--data", str(data), "--features", str(feats),
                       "--epochs", "3", "--min-count", "2", "--quiet", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["scores"], config["margin"], config["all_sentences"]) == ("cosine", 0.2, True)
    metrics = json.loads((run / "metrics.json").read_text())
    chance = 10 / PER_SPLIT["test"] * 100                 # R@10 of a random order, in %
    for direction in ("annotation", "search"):
        assert metrics[direction]["R@10"] > chance, direction
    untrained = metrics["baselines"]["untrained"]
    assert np.mean([metrics[d]["R@10"] for d in ("annotation", "search")]) > np.mean(
        [untrained[d]["R@10"] for d in ("annotation", "search")])
