"""Pretrained ImageNet CNNs that encode an image (thesis §3.6.1, eq. 3.3; §5.1).

    net = build("squeezenet")              # or "vgg16"
    x = preprocess(["cat.jpg"], net)       # (N, 3, S, S) float32
    logits = net(x)                        # (N, 1000) ImageNet class scores
    v = net.features(x)                    # (N, 512) or (N, 4096): the image code

``build(name, weights)``: ``weights=None`` loads the default converted file
in weights/ (SqueezeNet's is converted from the ndf package on first use;
VGG-16's must be converted once by the user, see weights/README.md),
``weights=False`` keeps random initial weights, a path loads that file. The
net carries ``preprocessing`` (how its input is made) and ``class_names``.
"""
from pathlib import Path

import numpy as np

import nnscratch.io
from nnscratch.io import FileFormatError

from ..data.files import user_folder
from . import preprocess as _preprocess
from .labels import imagenet_class_names
from .preprocess import ImageError, Preprocessing
from .squeezenet import SqueezeNet
from .squeezenet_weights import convert_squeezenet
from .vgg16 import VGG16

WEIGHTS_DIR = user_folder() / "weights"      # converted weights: the user's, not the code's
CHECKOUT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"   # where they were before
ARCHITECTURES = {"squeezenet": SqueezeNet, "vgg16": VGG16}

__all__ = ["build", "preprocess", "ImageError", "Preprocessing", "ARCHITECTURES", "WEIGHTS_DIR"]


def default_weights(name):
    """The default weight file of ``name`` in the user's folder (or, converted before,
    in a checkout's weights/), converting SqueezeNet's on first use."""
    path = WEIGHTS_DIR / f"{name}.h5"
    for found in (path, CHECKOUT_WEIGHTS / f"{name}.h5"):
        if found.exists():
            return found
    if name == "squeezenet":
        WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
        convert_squeezenet(path)
        return path
    raise FileNotFoundError(
        f"no VGG-16 weights at '{path}'. Convert a downloaded file once, e.g. "
        f"python -m caption.cnn.convert --from lasagne vgg16.pkl --out {path} "
        f"(or --from keras / --from torchvision; see weights/README.md)")


def build(name, weights=None, rng=None):
    """The network ``name`` ('squeezenet' or 'vgg16'), in evaluation mode.

    ``weights``: None for the default file, False for random weights (drawn
    from ``rng``), or the path of a converted file. The file is read through
    ``nnscratch.io``, which refuses links and storage outside the file; a
    file made for another architecture, whose arrays have other shapes (the
    shapes are checked before any array is read), or whose metadata lacks
    the preprocessing or the 1000 class names raises FileFormatError naming
    the file and the layer or field.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"build: unknown network '{name}'; choose one of "
                         f"{sorted(ARCHITECTURES)}")
    net = ARCHITECTURES[name](rng=rng)
    if weights is False:
        net.preprocessing = type(net).DEFAULT_PREPROCESSING
        net.class_names = imagenet_class_names()
        return net.eval()
    path = default_weights(name) if weights is None else Path(weights)
    metadata = nnscratch.io.load_metadata(path)
    shapes = {key: p.shape for key, p in net.named_parameters()}
    try:
        state = nnscratch.io.load(path, expected=shapes)
    except FileFormatError as error:
        found = metadata.get("architecture", "an unknown network")
        raise FileFormatError(f"{error} (the weights were made for {found}; "
                              f"this is {name})") from None
    net.load_state_dict(state)
    net.preprocessing, net.class_names = _usage(path, metadata)
    return net.eval()


def _usage(path, metadata):
    """The preprocessing and the class names that a weight file's metadata records."""
    try:
        preprocessing = Preprocessing.from_dict(metadata["preprocessing"])
        np.asarray(preprocessing.mean + preprocessing.std, dtype=np.float64)  # numbers
    except (KeyError, TypeError, ValueError) as error:
        raise FileFormatError(f"'{path}': metadata 'preprocessing' is missing or malformed "
                              f"({type(error).__name__}: {error})") from None
    names = metadata.get("class_names")
    if not (isinstance(names, list) and len(names) == 1000
            and all(isinstance(n, str) for n in names)):
        raise FileFormatError(f"'{path}': metadata 'class_names' must be a list of "
                              f"1000 strings")
    return preprocessing, names


def preprocess(images, net):
    """Paths or Pillow images -> the (N, 3, S, S) float32 batch ``net`` expects."""
    return _preprocess.preprocess(images, net.preprocessing)
