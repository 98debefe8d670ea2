"""python -m caption.stats on a fixture dataset, run as a user would run it."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def sentence(words, sentid):
    return {"tokens": words.split(), "raw": words + ".", "sentid": sentid}


def write_fixture(tmp_path):
    """COCO layout: train, restval, val and test images, known lengths and words."""
    images = [
        {"filepath": "train2014", "filename": "a.jpg", "imgid": 0, "split": "train",
         "sentences": [sentence("a dog runs", 0), sentence("a dog", 1)]},
        {"filepath": "train2014", "filename": "b.jpg", "imgid": 1, "split": "restval",
         "sentences": [sentence("a dog runs fast", 2)]},
        {"filepath": "val2014", "filename": "c.jpg", "imgid": 2, "split": "val",
         "sentences": [sentence("a cat", 3)]},
        {"filepath": "val2014", "filename": "d.jpg", "imgid": 3, "split": "test",
         "sentences": [sentence("a dog sleeps", 4), sentence("a bird", 5)]},
    ]
    for im in images:
        folder = tmp_path / "images" / im["filepath"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / im["filename"]).write_bytes(b"")
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": images}))
    return path


def run_stats(*args):
    return subprocess.run([sys.executable, "-m", "caption.stats", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_stats_json(tmp_path):
    path = write_fixture(tmp_path)
    done = run_stats(path, "--images", tmp_path / "images", "--json", "--restval-to-train")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["splits"]["train"] == {"images": 2, "sentences": 3, "mean_length": 3.0,
                                        "median_length": 3.0, "max_length": 4}
    assert stats["all"]["sentences"] == 6
    assert stats["all"]["mean_length"] == pytest.approx((3 + 2 + 4 + 2 + 3 + 2) / 6)
    # train words: a 3, dog 3, runs 2, fast 1
    assert stats["vocabulary_sizes"] == {"1": 4, "2": 3, "3": 2, "5": 0, "10": 0}
    assert stats["test_coverage"] == {"min_count": 5, "test_tokens": 5, "covered": 0.0,
                                      "unknown_types": 4}
    assert stats["length_histogram"] == {"2": 3, "3": 2, "4": 1}


def test_stats_text_keeps_restval_apart(tmp_path):
    done = run_stats(write_fixture(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:3] == ["restval", "1", "1"] for line in lines)
    assert any(line.split()[:3] == ["train", "1", "2"] for line in lines)
    assert "sentence length (tokens)" in done.stdout


def test_stats_bad_input_and_help(tmp_path):
    path = write_fixture(tmp_path)
    (tmp_path / "images" / "val2014" / "d.jpg").unlink()
    done = run_stats(path, "--images", tmp_path / "images")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "dataset_coco.json: 1 of 4 images are missing" in done.stderr
    assert "val2014/d.jpg" in done.stderr
    helped = run_stats("--help")
    assert helped.returncode == 0 and "--restval-to-train" in helped.stdout
    assert "shapes set" in helped.stdout
