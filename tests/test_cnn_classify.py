"""ImageNet classification of real photos (thesis §5.1, Fig. 3.5) with the
pretrained SqueezeNet, and the ``python -m caption.classify`` command."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import skimage

from caption import classify
from caption.cnn import build, squeezenet_weights
from caption.cnn.preprocess import load_images

PHOTOS = Path(skimage.__file__).parent / "data"
CATS = {"tabby, tabby cat", "tiger cat", "Persian cat", "Siamese cat, Siamese", "Egyptian cat"}
COFFEE = {"espresso", "cup", "coffee mug"}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "squeezenet.h5"
    squeezenet_weights.convert_squeezenet(path)
    return path


@pytest.fixture(scope="module")
def top5(weights):
    """Top-5 (name, index, probability) of the cat, coffee, astronaut and motorcycle."""
    names = ["chelsea.png", "coffee.png", "astronaut.png", "motorcycle_left.png"]
    images, _, _ = load_images([PHOTOS / n for n in names])
    return dict(zip(names, classify.classify(images, build("squeezenet", weights), k=5)))


def test_the_cat_is_a_cat(top5):
    assert CATS & {name for name, _, _ in top5["chelsea.png"]}


def test_the_coffee_is_espresso_or_a_cup(top5):
    assert COFFEE & {name for name, _, _ in top5["coffee.png"]}


def test_the_motorcycle_is_a_two_wheeler(top5):
    two_wheelers = {"motor scooter, scooter", "moped"}
    assert two_wheelers & {name for name, _, _ in top5["motorcycle_left.png"]}


def test_probabilities_are_sorted_and_sum_below_one(top5):
    for top in top5.values():
        probabilities = [p for _, _, p in top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-6


def test_command_line_json_reports_results_and_skipped_files(weights, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    command = [sys.executable, "-m", "caption.classify", str(PHOTOS / "chelsea.png"),
               str(broken), str(PHOTOS / "coffee.png"), "--weights", str(weights),
               "--top", "3", "--json"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr             # one image was skipped
    report = json.loads(done.stdout)
    assert [r["image"] for r in report["results"]] == [str(PHOTOS / "chelsea.png"),
                                                       str(PHOTOS / "coffee.png")]
    assert all(len(r["top"]) == 3 for r in report["results"])
    assert CATS & {t["class"] for t in report["results"][0]["top"]}
    assert report["skipped"][0]["image"] == str(broken)
    assert f"skipped: cannot use image '{broken}'" in done.stderr


def test_text_output_and_exit_status_when_everything_fails(weights, tmp_path, capsys):
    assert classify.main([str(PHOTOS / "coffee.png"), "--weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("coffee.png") and "espresso" in out
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert classify.main([str(empty), str(tmp_path), "--weights", str(weights)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and "empty.png" in errors[0] and str(tmp_path) in errors[1]


def test_missing_weights_file_is_a_clear_error(tmp_path, capsys):
    code = classify.main([str(PHOTOS / "coffee.png"), "--weights", str(tmp_path / "none.h5")])
    assert code == 1 and "none.h5" in capsys.readouterr().err
