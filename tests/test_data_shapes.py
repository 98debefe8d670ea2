"""caption.data.shapes: the synthetic dataset, its cache, and attribute_scores."""
import json

import numpy as np
import pytest

from caption.data import shapes
from caption.data.karpathy import load_karpathy
from caption.data.shapes import attribute_scores, build_shapes
from caption.data.shapes_scene import COLOURS, SHAPES, render, sample_scene
from caption.data.shapes_text import caption_text, mentioned_pairs, write_captions
from caption.data.tokenize import tokenize

COUNTS = (20, 5, 5)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes") / "set"
    return load_karpathy(build_shapes(root, 0, *COUNTS), root / "images")


def test_layout_and_splits(small_set):
    assert [len(small_set.split(s)) for s in ("train", "val", "test")] == list(COUNTS)
    assert [im.imgid for im in small_set.images] == list(range(sum(COUNTS)))
    for image in small_set.images:
        assert len(image.tokens) == 5 and len(set(map(tuple, image.tokens))) == 5
        assert 1 <= len(image.scene) <= 3
        cells = {(obj["row"], obj["col"]) for obj in image.scene}
        assert len(cells) == len(image.scene)               # one object per cell
        for obj in image.scene:
            assert obj["colour"] in COLOURS and obj["shape"] in SHAPES
            assert obj["radius"] in ((6, 7) if obj["size"] == "small" else (9, 10))


def test_captions_parse_back_to_their_scenes(small_set):
    captions = [t for im in small_set.images for t in im.tokens]
    scenes = [im.scene for im in small_set.images for _ in im.tokens]
    assert attribute_scores(captions, scenes) == {"precision": 1.0, "recall": 1.0}
    raw = [r for im in small_set.images for r in im.raw]
    assert attribute_scores(raw, scenes) == {"precision": 1.0, "recall": 1.0}


def test_tokens_are_the_tokenized_raw_text(small_set):
    for image in small_set.images:
        for raw, tokens in zip(image.raw, image.tokens):
            assert tokenize(raw) == tokens


def test_captions_name_sizes_counts_and_relations():
    scene = [{"colour": "red", "shape": "circle", "size": "small", "row": 0, "col": 0},
             {"colour": "red", "shape": "circle", "size": "small", "row": 1, "col": 0},
             {"colour": "blue", "shape": "square", "size": "large", "row": 2, "col": 2}]
    captions = [" ".join(c) for c in write_captions(scene, np.random.default_rng(0))]
    assert all("two small red circles" in c and "a large blue square" in c for c in captions)
    relational = [c for c in captions if any(r in c for r in ("left of", "right of", "above", "below"))]
    assert len(relational) == 3
    allowed = ("two small red circles are above a large blue square",
               "two small red circles are to the left of a large blue square",
               "a large blue square is below two small red circles",
               "a large blue square is to the right of two small red circles",
               "two small red circles one above the other")
    assert all(c.replace("there are ", "").replace("there is ", "").startswith(allowed)
               or c.startswith("there") for c in relational)
    assert caption_text("a red circle , a blue square and a green square".split()) == \
        "A red circle, a blue square and a green square."


def test_attribute_scores_counts_mistakes():
    scenes = [[{"colour": "red", "shape": "circle"}, {"colour": "blue", "shape": "square"}],
              [{"colour": "green", "shape": "triangle"}]]
    captions = ["a small red circle above a large green square",   # 1 right, 1 wrong, 1 missed
                "two green triangles and a red triangles"]          # plural parsed; 1 right, 1 wrong
    scores = attribute_scores(captions, scenes)
    assert scores == {"precision": pytest.approx(2 / 4), "recall": pytest.approx(2 / 3)}
    assert mentioned_pairs("a red large circle".split()) == {("red", "circle")}
    assert mentioned_pairs("red dog circle".split()) == set()
    assert attribute_scores(["nothing here"], [scenes[1]]) == {"precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError, match="2 captions but 1 scenes"):
        attribute_scores(captions, scenes[:1])


def test_same_seed_same_bytes(tmp_path):
    a = build_shapes(tmp_path / "a", 5, *COUNTS).parent
    b = build_shapes(tmp_path / "b", 5, *COUNTS).parent
    c = build_shapes(tmp_path / "c", 6, *COUNTS).parent
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == sum(COUNTS) + 2                    # images, JSON, manifest
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "dataset_shapes.json").read_bytes() != (c / "dataset_shapes.json").read_bytes()


def test_subset_is_a_prefix_of_a_larger_set(tmp_path):
    small = json.loads(build_shapes(tmp_path / "s", 1, 4, 2, 2).read_text())["images"]
    large = json.loads(build_shapes(tmp_path / "l", 1, 6, 2, 2).read_text())["images"]
    assert [im["scene"] for im in small[:4]] == [im["scene"] for im in large[:4]]
    rng = np.random.default_rng([1, 0, 3])
    scene = sample_scene(rng)
    assert scene == small[3]["scene"] and render(scene, rng).shape == (64, 64, 3)


def test_cache_reused_then_rebuilt(tmp_path):
    root = tmp_path / "set"
    build_shapes(root, 0, 4, 1, 1)
    image = root / "images" / "00002.png"
    original, stamp = image.read_bytes(), image.stat().st_mtime_ns
    build_shapes(root, 0, 4, 1, 1)
    assert image.stat().st_mtime_ns == stamp                   # reused, not redrawn
    image.unlink()
    assert not shapes.is_complete(root, 0, (4, 1, 1))
    build_shapes(root, 0, 4, 1, 1)
    assert image.read_bytes() == original                      # rebuilt, same bytes
    assert not shapes.is_complete(root, 0, (4, 1, 2))          # other counts: not this set
    assert not shapes.is_complete(root, 1, (4, 1, 1))          # other seed
    (root / "dataset_shapes.json").write_text("{}")
    assert not shapes.is_complete(root, 0, (4, 1, 1))          # altered JSON
    assert not list(tmp_path.glob(".set.partial-*"))           # no staging folder left


def test_interrupted_generation_is_not_complete(tmp_path, monkeypatch):
    def fail(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(shapes, "_record", fail)
    with pytest.raises(KeyboardInterrupt):
        build_shapes(tmp_path / "set", 0, 2, 1, 1)
    assert not (tmp_path / "set").exists()
    assert not list(tmp_path.glob(".set.partial-*"))           # the staging folder is removed
    assert not shapes.is_complete(tmp_path / "set", 0, (2, 1, 1))


def test_default_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSCRATCH_CACHE", str(tmp_path))
    assert shapes.default_root(3) == tmp_path / "shapes-v1-seed3"
