"""The shipped Flickr8k captioner (caption/shipped/flickr8k-captioner, see
weights/README.md): it loads, stays small, describes any photo a user has
(size, aspect, greyscale, CMYK, EXIF-rotated, large) by default, and draws
its attention over the photo. Photos from scikit-image, which no training
file holds."""
import json
import pathlib

import numpy as np
import pytest
import skimage
from PIL import Image

from caption import describe, shipped
from caption.evaluation import attention_maps
from caption.evaluation.new_images import decode_images
from caption.models.device import pick_device
from caption.training.build import open_model

MODEL = shipped.FOLDER / "flickr8k-captioner"
PHOTOS = pathlib.Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="module")
def model():
    return open_model(MODEL)


def test_it_ships_small_with_its_figures():
    size = sum(f.stat().st_size for f in MODEL.iterdir())
    assert size <= 10 * 2**20, f"{size} bytes"
    config = json.loads((MODEL / "config.json").read_text())
    assert (config["cnn"], config["cell"], config["region_size"]) == ("squeezenet", "lstm", 512)
    assert config["attention"] > 0
    metrics = json.loads((MODEL / "metrics.json").read_text())   # test split, beam 3
    constant = metrics["baselines"]["best constant caption"]
    assert metrics["CIDEr-D"] >= 0.30 and metrics["CIDEr-D"] > 4 * constant["CIDEr-D"]
    assert metrics["BLEU-4"] >= 0.14 and metrics["distinct captions"] >= 0.6


def test_describe_uses_it_by_default(capsys):
    assert describe.main([str(PHOTOS / "astronaut.png")]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0].endswith("astronaut.png") and len(lines[1].split("(log p")[0].split()) >= 3
    assert "shapes" not in printed.err                 # no note: photos are what it knows


def odd_photos(folder):
    """A photo as users have them: wide, tall, greyscale, CMYK, EXIF-rotated, large."""
    with Image.open(PHOTOS / "chelsea.png") as cat:                   # 451 x 300
        cat = cat.convert("RGB")
        paths = {"wide": folder / "wide.jpg", "grey": folder / "grey.png",
                 "cmyk": folder / "cmyk.jpg", "rotated": folder / "rotated.jpg",
                 "large": folder / "large.jpg"}
        cat.resize((900, 200)).save(paths["wide"])
        cat.convert("L").save(paths["grey"])
        cat.convert("CMYK").save(paths["cmyk"])
        exif = Image.Exif()
        exif[0x0112] = 6                                              # rotate 90° on display
        cat.transpose(Image.Transpose.ROTATE_90).save(paths["rotated"], exif=exif)
        cat.resize((4000, 2660)).save(paths["large"], quality=80)
    return paths


def test_any_photo_gets_a_caption(tmp_path, capsys):
    paths = odd_photos(tmp_path)
    assert describe.main([str(p) for p in paths.values()] + ["--json"]) == 0
    captions = json.loads(capsys.readouterr().out)["captions"]
    assert set(captions) == {str(p) for p in paths.values()}
    assert all(c[0]["caption"].split() for c in captions.values())


def test_the_rotated_photo_is_seen_upright(model, tmp_path):
    paths = odd_photos(tmp_path)
    net, vocab, config = model
    (upright, rotated), _ = decode_images([str(PHOTOS / "chelsea.png"), str(paths["rotated"])],
                                          net, vocab, config, pick_device("cpu"))
    difference = np.abs(upright.pixels.astype(int) - rotated.pixels.astype(int)).mean()
    assert difference < 8                      # JPEG's loss, not a picture turned on its side


def test_attention_is_drawn_over_the_photo(model, tmp_path, capsys):
    out = tmp_path / "map.png"
    assert describe.main([str(PHOTOS / "coffee.png"), "--attention-map", str(out)]) == 0
    net, vocab, config = model
    (decoded,), _ = decode_images([str(PHOTOS / "coffee.png")], net, vocab, config,
                                  pick_device("cpu"))
    steps = attention_maps.attention_steps(net, vocab, decoded.image, decoded.hypotheses[0].ids)
    assert all(s.weights.shape == (14, 14) and np.isclose(s.weights.sum(), 1, atol=1e-5)
               for s in steps)
    with Image.open(out) as sheet:
        assert sheet.width >= attention_maps.PANEL * 2
