"""What a model sees of each image: pixels for a CNN trained jointly
(``--cnn small``), or the vectors of a frozen pretrained CNN (thesis §3.6.1:
the CNN is frozen, so its features are computed once and cached).

Shapes: N images, S image side, K feature size.
"""
import numpy as np

from .cnn.preprocess import ImageError, load_image
from .data.features import load_features

SMALL_CNN_SIDE = 64


def load_pixels(images, side=SMALL_CNN_SIDE):
    """The images of a split as uint8 (N, 3, S, S), resized to S×S if needed.

    Unreadable images are listed together (count and first few) in one error.
    """
    out = np.empty((len(images), 3, side, side), dtype=np.uint8)
    failed = []
    for row, image in enumerate(images):
        try:
            rgb = load_image(image.path)
        except ImageError as error:
            failed.append(str(error))
            continue
        if rgb.size != (side, side):
            rgb = rgb.resize((side, side))
        out[row] = np.asarray(rgb).transpose(2, 0, 1)
    if failed:
        raise ImageError(f"{len(failed)} images", "could not be read: " + "; ".join(failed[:5]))
    return out


def pixels_to_float(pixels):
    """uint8 pixels -> float32 in [-1, 1], the small CNN's input."""
    return pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def split_inputs(config, dataset, splits):
    """{split: uint8 pixels (N, 3, S, S) or float32 features (N, K)} for ``splits``."""
    if config["cnn"] == "small":
        return {split: load_pixels(dataset.split(split)) for split in splits}
    if config.get("features"):
        features = load_features(config["features"], dataset)
    else:
        from .features import cached_features  # pretrained CNNs load only when needed
        features = cached_features(dataset, config["cnn"], device=config["device"])
    return {split: features.for_images(dataset.split(split)) for split in splits}
