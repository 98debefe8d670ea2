"""What a model sees of each image: pixels for a CNN trained jointly
(``--cnn small``), or the vectors of a frozen pretrained CNN (thesis §3.6.1:
the CNN is frozen, so its features are computed once and cached).

Only the small CNN needs the image files. With ``--features`` the vectors
come from the file and no image is opened; without it they are computed once
into the feature cache (``cached_features`` of caption/cnn/extract.py), which needs the images
only the first time.

Shapes: N images, S image side, K feature size.
"""
import numpy as np

from ..cnn.extract import FEATURE_SIZE, cached_features
from ..cnn.preprocess import ImageError, load_image
from ..data.features import load_features
from ..data.karpathy import DatasetError
from ..models.small_cnn import SIDE
from .config import ConfigError


def load_pixels(images, side=SIDE):
    """The images of a split as uint8 (N, 3, S, S), resized to S×S if needed.

    Unreadable images are listed together (count and first few) in one error.
    """
    out = np.empty((len(images), 3, side, side), dtype=np.uint8)
    failed = []
    for row, image in enumerate(images):
        if image.path is None:
            raise ImageError(image.relpath, "the dataset was loaded without an image folder")
        try:
            rgb = load_image(image.path, at_least=side)
        except ImageError as error:
            failed.append(str(error))
            continue
        if rgb.size != (side, side):
            rgb = rgb.resize((side, side))
        out[row] = np.asarray(rgb).transpose(2, 0, 1)
    if failed:
        raise DatasetError(f"{len(failed)} of {len(images)} images cannot be used: "
                           + "; ".join(failed[:5]))
    return out


def split_inputs(config, dataset, splits, progress=True):
    """{split: uint8 pixels (N, 3, S, S), float32 features (N, K), or with attention over a
    pretrained CNN's regions RegionFeatures (vectors and regions)} for ``splits``.

    A ``--features`` file of any width is taken when no ``--cnn`` was named
    (config["cnn"] None): the run then records the CNN the file says made it, or
    none (features of another network train and evaluate, but new images cannot be
    encoded). A named CNN must match the file.
    """
    if config["cnn"] == "small":
        return {split: load_pixels(dataset.split(split)) for split in splits}
    regions = bool(config.get("attention"))   # the ranking model reads vectors alone
    if config["features"]:
        features = load_features(config["features"], dataset,
                                 expected_dim=FEATURE_SIZE.get(config["cnn"]), regions=regions,
                                 cnn=config["cnn"])
        config["cnn"] = features.cnn if config["cnn"] is None else config["cnn"]
    else:
        if config["cnn"] is None:
            raise ConfigError("--cnn: no CNN to encode the images with; name one "
                              "(--cnn squeezenet or vgg16) or give --features")
        features = cached_features(dataset, config["cnn"], device=config["device"],
                                   progress=progress, regions=regions)
    return {split: features.for_images(dataset.split(split)) for split in splits}
