"""From image files to the input batch of a pretrained CNN (thesis §3.6.1).

A pretrained network expects exactly the input it was trained on: a square of
S×S pixels, channels in a given order (Caffe-trained nets want BGR), and each
pixel value p (0..255) turned into x = (p·scale − mean_c) / std_c with the
per-channel mean (and std) of its training set. ``Preprocessing`` records
those settings (the converted weight files store them), and ``preprocess``
applies them: read with Pillow, any image mode to RGB, resize so that the
short side is S, cut the centred S×S square, reorder channels, normalise.

Shapes: N images, S the input side; a batch is (N, 3, S, S) float32.
"""
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageOps

from ..data.files import open_regular

MIN_SIDE = 8  # smaller images hold too little to classify; they are refused
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP", "PPM")   # what load_image opens


class ImageError(ValueError):
    """An image that cannot be used; the message names the file and the reason."""

    def __init__(self, name, reason):
        super().__init__(f"cannot use image '{name}': {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class Preprocessing:
    """x = (p·scale − mean) / std per channel, p in 0..255, in ``channel_order``.

    ``input_size`` is S; ``mean`` and ``std`` are given in ``channel_order``
    ("RGB" or "BGR"), on the scale after multiplying by ``scale``.
    """

    input_size: int
    channel_order: str
    mean: tuple
    std: tuple = (1.0, 1.0, 1.0)
    scale: float = 1.0

    def __post_init__(self):
        if self.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"Preprocessing: channel_order must be 'RGB' or 'BGR', "
                             f"got {self.channel_order!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"Preprocessing: mean and std need 3 values each, got "
                             f"{len(self.mean)} and {len(self.std)}")

    def to_dict(self):
        """A JSON-able dict, as stored in a weight file's metadata."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        return cls(int(d["input_size"]), d["channel_order"], tuple(d["mean"]),
                   tuple(d["std"]), float(d["scale"]))


def image_name(source, index=0):
    """The name of an image in messages: its path, or its file name if it has one."""
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or f"<image {index}>"
    return str(source)


def load_image(source, name=None, at_least=None):
    """An RGB Pillow image from a path or an Image; ImageError if it is unusable.

    Refused: what is not a regular file (a folder, a FIFO, a device), a file
    in none of the FORMATS, an unreadable image (empty, corrupt or
    truncated), an image beyond Pillow's decompression-bomb limit, and one
    smaller than MIN_SIDE pixels on a side. ``at_least``: the side the caller
    will shrink the image to; a large JPEG is then decoded at the smallest
    scale (1/2, 1/4, 1/8) that keeps both sides at least this long, rather
    than whole.
    """
    name = image_name(source) if name is None else name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(source, Image.Image):
                image = source
                image.load()
            else:
                with open_regular(source) as f:
                    image = Image.open(f, formats=FORMATS)
                    if at_least is not None:
                        image.draft("RGB", (at_least, at_least))
                    image.load()
            image = ImageOps.exif_transpose(image)
            rgb = to_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        if isinstance(error, Image.UnidentifiedImageError):
            reason = f"not an image in a supported format ({', '.join(FORMATS)})"
        else:
            reason = " ".join(str(error).split()) or type(error).__name__
        raise ImageError(name, reason) from None
    if min(rgb.size) < MIN_SIDE:
        raise ImageError(name, f"it is {rgb.size[0]}x{rgb.size[1]} pixels, smaller than "
                               f"{MIN_SIDE} on a side")
    return rgb


def to_rgb(image):
    """Any Pillow mode as RGB, transparency laid over white.

    Gray of more than 8 bits (modes I;16, I, F) becomes 8-bit: I;16 is
    divided by 257 (65535 -> 255); I and F likewise when their maximum
    exceeds 255, and are otherwise taken as 0..255 already.
    """
    if image.mode.startswith("I") or image.mode == "F":
        gray = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or gray.max(initial=0) > 255:
            gray = gray / 257.0
        image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def resize_and_crop(image, size):
    """Resize so that the short side is ``size`` (bilinear), then cut the centred square."""
    width, height = image.size
    ratio = size / min(width, height)
    new_width, new_height = max(size, round(width * ratio)), max(size, round(height * ratio))
    image = image.resize((new_width, new_height), Image.Resampling.BILINEAR)
    left, top = (new_width - size) // 2, (new_height - size) // 2
    return image.crop((left, top, left + size, top + size))


def image_to_array(image, spec):
    """An RGB image -> the (3, S, S) float32 array the net expects: each channel written
    once from the uint8 pixels into its plane, then shifted and scaled in place (one
    pass fewer for each of the conversion, the transposition and the reordering)."""
    pixels = np.asarray(resize_and_crop(image, spec.input_size))          # (S, S, 3) uint8
    order = (2, 1, 0) if spec.channel_order == "BGR" else (0, 1, 2)
    x = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
    for c, channel in enumerate(order):
        np.multiply(pixels[:, :, channel], np.float32(spec.scale), out=x[c], dtype=np.float32)
        x[c] -= np.float32(spec.mean[c])
        x[c] /= np.float32(spec.std[c])
    return x


def preprocess(images, spec):
    """Paths or Pillow images -> (N, 3, S, S) float32; ImageError on the first bad one."""
    arrays = [image_to_array(load_image(source), spec) for source in images]
    if not arrays:
        raise ValueError("preprocess: no images given")
    return np.stack(arrays)


def load_images(sources):
    """Batch mode: (good RGB images, their indices in ``sources``, ImageErrors of the rest)."""
    images, kept, errors = [], [], []
    for index, source in enumerate(sources):
        try:
            images.append(load_image(source, image_name(source, index)))
            kept.append(index)
        except ImageError as error:
            errors.append(error)
    return images, kept, errors
