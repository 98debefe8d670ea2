"""The shapes-trained caption generator on pictures the generator never drew.

Issue 6's last target: the model trained by the default ``python -m
caption.train`` (shipped in weights/shapes-captioner, see weights/README.md)
must name the right colours and shapes in pictures drawn here directly with
Pillow's ImageDraw: a flat grey background without the generator's texture
and noise, our own RGB values, hard-edged polygons instead of the
supersampled masks of caption/data/shapes_scene.py.
"""
import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw

from caption import shipped
from caption.data.shapes_text import attribute_scores, mentioned_pairs
from describing import describe

RUN = shipped.FOLDER / "shapes-captioner"
pytestmark = pytest.mark.skipif(not (RUN / "best.h5").exists(), reason="no shipped shapes captioner")

RGB = {"red": (230, 30, 40), "green": (40, 160, 70), "blue": (40, 90, 230),
       "yellow": (240, 220, 40), "purple": (150, 60, 200), "white": (245, 245, 245)}
SHAPES = ("circle", "square", "triangle")


def draw(objects, background=(105, 105, 110)):
    """A 64x64 RGB picture of objects (colour, shape, radius px, column, row of a 3x3 grid)."""
    picture = Image.new("RGB", (64, 64), background)
    pen = ImageDraw.Draw(picture)
    for colour, shape, r, col, row in objects:
        x, y = 64 * (col + 0.5) / 3, 64 * (row + 0.5) / 3
        fill = RGB[colour]
        if shape == "circle":
            pen.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        elif shape == "square":
            half = 0.85 * r
            pen.rectangle([x - half, y - half, x + half, y + half], fill=fill)
        else:  # apex up
            pen.polygon([(x, y - r), (x - r, y + 0.8 * r), (x + r, y + 0.8 * r)], fill=fill)
    return picture


def captions(drawings, folder):
    """The shipped model's best beam-3 caption of each drawing, as a word list."""
    paths = []
    for k, objects in enumerate(drawings):
        paths.append(str(folder / f"{k}.png"))
        draw(objects).save(paths[-1])
    results, skipped = describe(paths, RUN, beam=3)
    assert skipped == []
    return [results[p][0]["caption"].split() for p in paths]


def test_every_colour_and_shape_alone_is_named_exactly(tmp_path):
    # the 18 pairs, each in a different cell and at radii 6 to 10 (small and large)
    drawings = [[(colour, shape, 6 + k % 5, k % 3, (k // 3) % 3)]
                for k, (colour, shape) in enumerate(itertools.product(RGB, SHAPES))]
    wrong = {" ".join(words): objects for objects, words in zip(drawings, captions(drawings, tmp_path))
             if mentioned_pairs(words) != {objects[0][:2]}}
    assert not wrong, f"captions naming the wrong object: {wrong}"


def test_pictures_of_two_and_three_objects(tmp_path):
    """Scored like the test split (caption/data/shapes_text.py), where the model
    scores 0.98 / 0.96. These 24 pictures score 1.00 / 0.90 (0.93 / 0.92 for
    the model of the previous defaults; 0.94 / 0.83 for one whose attention the
    word alone leads: two objects of one colour, a white square beside a white
    circle, came out as "two large white circles"; README). The bounds guard
    that level with room for a 24-picture sample."""
    rng = np.random.default_rng(7)
    drawings = []
    for count in (2, 3):
        for _ in range(12):
            cells = rng.choice(9, count, replace=False)
            drawings.append([(list(RGB)[rng.integers(6)], SHAPES[rng.integers(3)],
                              int(rng.integers(6, 11)), int(c % 3), int(c // 3)) for c in cells])
    words = captions(drawings, tmp_path)
    scenes = [[{"colour": colour, "shape": shape} for colour, shape, *_ in objects] for objects in drawings]
    scores = attribute_scores(words, scenes)
    assert scores["precision"] >= 0.85 and scores["recall"] >= 0.8, scores
