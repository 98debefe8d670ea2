"""Attention you can see, and a describe that is honest about what a model knows.

The shipped shapes captioner (weights/shapes-captioner) attends over the 8x8
regions of its small CNN's last map; each region sees a 22x22-pixel window of
the 64x64 image (its own 8x8 cell and 7 pixels around it: three 3x3
convolutions, each followed by 2x2 pooling). The α that predicts word t+1 is
computed with the query of word t, the word just read (and the one before
it): so after reading a colour word the model should look at the object of
that colour (to name its shape). Measured on 60 random two-object drawings
(seed 2), the peak region's window holds the named colour after every one of
124 colour words, 17 to 22 of each colour. (The model of the previous
defaults, whose query was the word and the state, did so after red, white,
purple and blue, 89 of 92, and after green and yellow in none of 43: its α
spread thinly over the background, the shape read from the image vector.)
"""
import json
import pathlib

import numpy as np
import pytest
import skimage
from PIL import Image

from caption import describe, features, train
from caption.data.shapes import build_shapes
from caption.evaluation import attention_maps
from caption.evaluation.new_images import SHAPES_ONLY, decode_images
from caption.models.device import pick_device
from caption.training.build import open_model
from test_drawn_shapes import RGB, RUN, draw

PHOTO = pathlib.Path(skimage.__file__).parent / "data" / "astronaut.png"   # 512 x 512
needs_run = pytest.mark.skipif(not (RUN / "best.h5").exists(), reason="no shipped shapes captioner")


def window(pixels, region, colour):
    """How many pixels of ``colour`` the region (row, column) of the 8x8 grid sees (its
    22x22 receptive field)."""
    r, c = (int(k) for k in region)
    seen = pixels[max(8 * r - 7, 0):8 * r + 15, max(8 * c - 7, 0):8 * c + 15]
    return int((seen == RGB[colour]).all(axis=-1).sum())


@needs_run
@pytest.mark.parametrize("objects", [
    [("red", "circle", 9, 0, 0), ("blue", "square", 9, 2, 2)],
    [("white", "triangle", 9, 2, 0), ("purple", "circle", 9, 0, 2)],
    [("purple", "square", 9, 2, 1), ("red", "triangle", 9, 0, 1)],
    [("green", "square", 9, 0, 2), ("yellow", "triangle", 9, 2, 0)],
])
def test_after_each_colour_word_the_map_peaks_on_that_object(objects, tmp_path):
    path = tmp_path / "two.png"
    draw(objects).save(path)
    pixels = np.asarray(Image.open(path))
    model, vocab, config = open_model(RUN)
    (decoded,), _ = decode_images([str(path)], model, vocab, config, pick_device("cpu"))
    best = decoded.hypotheses[0]
    steps = attention_maps.attention_steps(model, vocab, decoded.image, best.ids)
    assert [s.said for s in steps] == vocab.decode(best.ids) + ["<end>"]
    assert [s.read for s in steps][1:] == [s.said for s in steps][:-1]
    colours = {colour for colour, *_ in objects}
    seen = set()
    for step in steps:
        assert step.weights.shape == (8, 8) and step.weights.sum() == pytest.approx(1, abs=1e-5)
        if step.read not in colours:
            continue
        seen.add(step.read)
        peak = attention_maps.peak(step.weights)
        (other,) = colours - {step.read}
        assert window(pixels, peak, step.read) > window(pixels, peak, other), (step, peak)
    assert seen == colours, f"the caption names {seen}, the picture holds {colours}"


@needs_run
def test_describe_draws_one_png_with_a_row_per_image(tmp_path, capsys):
    paths = []
    for k, objects in enumerate([[("red", "circle", 9, 0, 0)], [("blue", "square", 8, 1, 1)]]):
        paths.append(str(tmp_path / f"{k}.png"))
        draw(objects).save(paths[-1])
    out = tmp_path / "map.png"
    assert describe.main(paths + ["--run", str(RUN), "--attention-map", str(out)]) == 0
    printed = capsys.readouterr()
    assert "note:" not in printed.err                        # 64x64 drawings: nothing to say
    with Image.open(out) as sheet:
        width, height = sheet.size
    lines = attention_maps.TITLE + attention_maps.LABEL + attention_maps.PANEL + 4
    assert height >= 2 * lines and width > 3 * attention_maps.PANEL


@needs_run
def test_a_photo_is_described_with_a_note_on_what_the_model_knows(capsys):
    assert describe.main([str(PHOTO), "--run", str(RUN)]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(str(PHOTO)) and "log p" in printed.out   # still a caption
    assert "512x512 pixels" in printed.err and SHAPES_ONLY in printed.err
    assert "python -m caption.train --data" in printed.err and "leave out --run" in printed.err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_shapes(tmp_path_factory.mktemp("data") / "shapes", seed=0,
                        n_train=40, n_val=8, n_test=8)


def test_attention_map_needs_a_run_with_attention(tiny, tmp_path, capsys):
    run = tmp_path / "plain"
    assert train.main(["--data", str(tiny), "--attention", "0", "--epochs", "1",
                       "--hidden-size", "16", "--embed-size", "8", "--quiet",
                       "--out", str(run)]) == 0
    image = json.loads(tiny.read_text())["images"][0]["filename"]
    capsys.readouterr()
    assert describe.main([str(tiny.parent / "images" / image), "--run", str(run),
                          "--attention-map", str(tmp_path / "m.png")]) == 1
    assert "has no attention (it was trained with --attention 0)" in capsys.readouterr().err
    assert not (tmp_path / "m.png").exists()


@pytest.fixture(scope="module")
def over_squeezenet(tiny, tmp_path_factory):
    """A run with attention over SqueezeNet's 14 x 14 fire9 regions (caption.features)."""
    folder = tmp_path_factory.mktemp("squeezenet")
    assert features.main(["--data", str(tiny), "--images", str(tiny.parent / "images"),
                          "--out", str(folder / "f.h5"), "--quiet"]) == 0
    assert train.main(["--data", str(tiny), "--features", str(folder / "f.h5"),
                       "--attention", "8", "--epochs", "1", "--hidden-size", "16",
                       "--embed-size", "8", "--quiet", "--out", str(folder / "run")]) == 0
    return folder / "run"


def test_a_photo_gets_a_map_over_a_pretrained_cnns_regions(over_squeezenet, tmp_path, capsys):
    config = json.loads((over_squeezenet / "config.json").read_text())
    assert (config["cnn"], config["region_size"]) == ("squeezenet", 512)   # the file's CNN
    assert describe.main([str(PHOTO), "--run", str(over_squeezenet), "--attention-map",
                          str(tmp_path / "m.png")]) == 0
    assert "attention map:" in capsys.readouterr().err
    model, vocab, config = open_model(over_squeezenet)
    (decoded,), _ = decode_images([str(PHOTO)], model, vocab, config, pick_device("cpu"))
    assert decoded.pixels.shape == (227, 227, 3)          # the square SqueezeNet saw
    steps = attention_maps.attention_steps(model, vocab, decoded.image, decoded.hypotheses[0].ids)
    assert steps[0].weights.shape == (14, 14)
    assert all(np.isclose(step.weights.sum(), 1.0, atol=1e-5) for step in steps)
    with Image.open(tmp_path / "m.png") as sheet:
        assert sheet.width >= attention_maps.PANEL * min(attention_maps.PER_LINE, len(steps) + 1)


def test_the_report_draws_attention_over_the_photos(over_squeezenet):
    from caption import evaluate
    assert evaluate.main(["--run", str(over_squeezenet), "--sample", "2"]) == 0
    page = (over_squeezenet / "report.html").read_text(encoding="utf-8")
    assert "Where the model looks, word by word" in page
    assert len(sorted((over_squeezenet / "report_images").glob("attention*.png"))) == 2


def test_the_report_draws_the_attention_of_sampled_images(tiny, tmp_path):
    from caption import evaluate
    run = tmp_path / "run"
    assert train.main(["--data", str(tiny), "--epochs", "1", "--hidden-size", "16",
                       "--embed-size", "8", "--quiet", "--out", str(run)]) == 0
    assert evaluate.main(["--run", str(run), "--sample", "3"]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "Where the model looks, word by word" in page
    maps = sorted((run / "report_images").glob("attention*.png"))
    assert len(maps) == 3 and all(f'src="report_images/{m.name}"' in page for m in maps)
