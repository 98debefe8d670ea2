"""Training from a JSON and a feature file alone, on a few hundred images of the
real Flickr8k captions (issue 15, item 4): the caption generator and the
ranking model with the real-data defaults and ``--cnn vgg16``, one epoch each
at small sizes, no image folder anywhere, then ``caption.evaluate`` and its
report (placeholders for the missing images); and the real-scale benchmark's
own code on the same files. The features are stand-in random ReLU vectors.

Needs the Flickr8k text release beside the checkout (../shared/flickr8k/);
skips without it.
"""
import json
import math
from pathlib import Path

import pytest

from benchmarks.real_scale import STANDIN_DIM, markdown, measure, write_standin_features
from caption import evaluate, train
from caption.data.flickr8k import TOKEN_FILE
from caption.data.flickr8k import main as convert_release

RELEASE = Path(__file__).resolve().parents[1].parent / "shared" / "flickr8k"
KEEP = {"train": 200, "val": 50, "test": 50}
SMALL = {"caption": ["--hidden-size", "32", "--embed-size", "32"], "rank": ["--embed-size", "32"]}


@pytest.fixture(scope="module")
def small_flickr8k(tmp_path_factory):
    """(JSON, features): the release converted, cut to 200/50/50 images with their
    real captions, and stand-in features for exactly those images; nothing else."""
    if not (RELEASE / TOKEN_FILE).is_file():
        pytest.skip(f"the Flickr8k text release is not at {RELEASE}")
    folder = tmp_path_factory.mktemp("flickr8k_small")
    full = folder / "full.json"
    assert convert_release([str(RELEASE), "--out", str(full)]) == 0
    dataset = json.loads(full.read_text())
    full.unlink()
    kept = {split: [i for i in dataset["images"] if i["split"] == split][:count]
            for split, count in KEEP.items()}
    data = folder / "dataset_flickr8k.json"
    data.write_text(json.dumps({"images": [i for images in kept.values() for i in images],
                                "dataset": dataset["dataset"]}))
    features = folder / "fc7_standin.h5"
    assert write_standin_features(data, features) == sum(KEEP.values())
    return data, features


def no_image_beside(data):
    assert sorted(p.name for p in data.parent.iterdir()) == [data.name, "fc7_standin.h5"]


def finite_numbers(value):
    """Every number in a nested dict or list of metrics."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in finite_numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in finite_numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def train_and_evaluate(task, data, features, run, capsys):
    assert train.main(["--task", task, "--data", str(data), "--features", str(features),
                       "--cnn", "vgg16", "--out", str(run), "--epochs", "1", "--quiet",
                       *SMALL[task]]) == 0
    assert {"config.json", "vocab.json", "best.h5", "last.h5", "log.jsonl",
            "metrics.json"} <= {p.name for p in run.iterdir()}
    config = json.loads((run / "config.json").read_text())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(log) == 1 and log[0]["epoch"] == 1 and math.isfinite(log[0]["train_loss"])
    assert all(math.isfinite(n) for n in finite_numbers(metrics))
    capsys.readouterr()
    assert evaluate.main(["--run", str(run), "--sample", "4"]) == 0
    evaluation = json.loads((run / "evaluation-test.json").read_text())
    assert evaluation["images"] == KEEP["test"]
    assert all(math.isfinite(n) for n in finite_numbers(evaluation["metrics"]))
    page = (run / "report.html").read_text()
    assert "image not available" in page and "<img src=\"report_images/img" not in page
    no_image_beside(data)
    return config, metrics


def test_caption_from_json_and_features_alone(small_flickr8k, tmp_path, capsys):
    data, features = small_flickr8k
    config, metrics = train_and_evaluate("caption", data, features, tmp_path / "cap", capsys)
    # the real-data defaults (caption/training/config.py REAL_DATA), beside the flags
    assert {k: config[k] for k in ("cnn", "attention", "dropout", "lr", "batch_size",
                                   "max_length", "feature_size", "hidden_size")} == {
        "cnn": "vgg16", "attention": 0, "dropout": 0.5, "lr": 1e-3, "batch_size": 20,
        "max_length": 20, "feature_size": STANDIN_DIM, "hidden_size": 32}
    assert {"BLEU-4", "CIDEr-D", "perplexity"} <= set(metrics)
    assert metrics["baselines"]["best constant caption"]["caption"]


def test_rank_from_json_and_features_alone(small_flickr8k, tmp_path, capsys):
    data, features = small_flickr8k
    config, metrics = train_and_evaluate("rank", data, features, tmp_path / "rank", capsys)
    assert (config["cnn"], config["feature_size"]) == ("vgg16", STANDIN_DIM)
    for direction in ("annotation", "search"):
        assert 0 <= metrics[direction]["R@1"] <= metrics[direction]["R@10"] <= 100
        assert 1 <= metrics[direction]["median_rank"] <= KEEP["test"] * 5


@pytest.mark.parametrize("task", ["caption", "rank"])
def test_the_benchmark_on_the_same_files(small_flickr8k, task):
    data, features = small_flickr8k
    result = measure(task, data, features, steps=1, evaluate="val",
                     train_flags=SMALL[task])
    assert result["sentences_per_epoch"] == 200 * 5       # all five of each image, both tasks
    assert result["steps_timed"] == 1 and result["extrapolated"]
    assert result["steps_per_epoch"] == 10                  # 20 images x 5, or 100 pairs
    assert result["epoch_s"] > 0 and result["val_s"] > 0
    assert 0 < result["resident_after_build_mb"] <= result["peak_training_mb"]
    assert result["peak_evaluation_mb"] > 0
    assert math.isfinite(result["first_loss"]) and "test_s" not in result
    table = markdown([result]).splitlines()
    assert table[2].startswith(f"| {task} | ")
    no_image_beside(data)
