"""caption.cnn.preprocess: any image mode to the (N, 3, S, S) batch a net
expects, and a clear error naming the file for every kind of bad image."""
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from caption.cnn.preprocess import (ImageError, Preprocessing, image_to_array, load_image,
                                    load_images, preprocess, resize_and_crop)

CAFFE = Preprocessing(16, "BGR", (104.0, 117.0, 123.0))
TORCH = Preprocessing(16, "RGB", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1 / 255)


def solid(color, size=(40, 30), mode="RGB"):
    return Image.new(mode, size, color)


def test_bgr_mean_subtraction_of_a_solid_colour():
    x = preprocess([solid((200, 100, 50))], CAFFE)
    assert x.shape == (1, 3, 16, 16) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 5, 5], [50 - 104, 100 - 117, 200 - 123])


def test_rgb_scale_mean_and_std():
    x = preprocess([solid((255, 0, 51))], TORCH)
    expected = (np.array([1.0, 0.0, 0.2]) - TORCH.mean) / np.array(TORCH.std)
    np.testing.assert_allclose(x[0, :, 0, 0], expected, rtol=1e-5)


def test_short_side_resized_then_centre_cropped():
    image = Image.new("RGB", (60, 20), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 20))  # a white left third
    cropped = np.asarray(resize_and_crop(image, 10))
    assert cropped.shape == (10, 10, 3)
    assert cropped[:, 1:-1].max() == 0  # the black middle third (blurred at its edge)
    assert np.asarray(resize_and_crop(image.rotate(90, expand=True), 10)).shape == (10, 10, 3)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_becomes_a_normal_batch(mode):
    gray = np.tile(np.arange(0, 240, 8, dtype=np.uint8), (20, 1))  # 20 x 30 ramp
    if mode == "I;16":
        image = Image.fromarray(gray.astype(np.uint16) * 257)
    else:
        image = Image.fromarray(gray).convert("RGB").convert(mode)
    assert image.mode == mode
    x = preprocess([image], Preprocessing(16, "RGB", (0, 0, 0)))
    assert x.shape == (1, 3, 16, 16) and np.isfinite(x).all()
    if mode in ("L", "LA", "I;16", "I", "F"):  # the gray ramp survives, 16 bits scaled to 8
        assert 100 < x.mean() < 140 and np.ptp(x) > 120


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    assert np.asarray(load_image(image)).min() == 255


# -- bad input: one clear line naming the file -------------------------------

def png_header_only(width, height):
    """A PNG that claims width x height pixels (Pillow checks its size on open)."""
    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


@pytest.fixture
def bad_images(tmp_path):
    solid((10, 200, 30), (64, 48)).save(tmp_path / "good.jpg")
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[:len(data) // 2])
    (tmp_path / "corrupt.png").write_bytes(b"this is not an image" * 20)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "a_directory.jpg").mkdir()
    solid((0, 0, 0), (1, 1)).save(tmp_path / "one_pixel.png")
    (tmp_path / "bomb.png").write_bytes(png_header_only(40000, 40000))
    os.mkfifo(tmp_path / "fifo.jpg")              # opening it blindly would wait forever
    solid((0, 0, 0), (32, 32)).save(tmp_path / "icon.ico")   # a format Pillow reads, we do not
    return tmp_path


@pytest.mark.parametrize("name, reason", [
    ("truncated.jpg", "truncated"), ("corrupt.png", "not an image in a supported format"),
    ("empty.png", "not an image in a supported format"), ("a_directory.jpg", "it is a folder"),
    ("fifo.jpg", "it is not a regular file"), ("icon.ico", "not an image in a supported format"),
    ("one_pixel.png", "1x1 pixels"), ("bomb.png", "decompression bomb"),
    ("missing.png", "No such file")])
def test_bad_image_raises_naming_the_file(bad_images, name, reason):
    with pytest.raises(ImageError) as info:
        load_image(bad_images / name)
    message = str(info.value)
    assert str(bad_images / name) in message and reason in message and "\n" not in message
    assert info.value.name == str(bad_images / name)


def test_a_large_jpeg_is_decoded_at_reduced_size(tmp_path):
    solid((200, 10, 10), (4000, 3000)).save(tmp_path / "large.jpg")
    assert load_image(tmp_path / "large.jpg").size == (4000, 3000)
    reduced = load_image(tmp_path / "large.jpg", at_least=256)
    assert reduced.size == (500, 375)             # 1/8 scale keeps both sides >= 256
    assert reduced.getpixel((10, 10))[0] > 150


def test_batch_mode_keeps_the_good_and_lists_the_skipped(bad_images):
    names = ["empty.png", "good.jpg", "truncated.jpg", "good.jpg"]
    images, kept, errors = load_images([bad_images / n for n in names])
    assert kept == [1, 3] and len(images) == 2
    assert [e.name for e in errors] == [str(bad_images / n) for n in ("empty.png", "truncated.jpg")]
    assert image_to_array(images[0], CAFFE).shape == (3, 16, 16)


def test_preprocess_stops_at_the_first_bad_image(bad_images):
    with pytest.raises(ImageError, match="corrupt.png"):
        preprocess([bad_images / "good.jpg", bad_images / "corrupt.png"], CAFFE)


def test_preprocessing_round_trips_through_a_dict_and_checks_itself():
    assert Preprocessing.from_dict(TORCH.to_dict()) == TORCH
    with pytest.raises(ValueError, match="channel_order"):
        Preprocessing(224, "GBR", (0, 0, 0))
