"""The trained models that ship with the project, as package data, so that a plain
``pip install .`` has them (each is a folder of ``python -m caption.export``:
config.json, vocab.json, best.h5 and the test metrics.json; weights/README.md
says how each was trained, with its command, seed and figures):

    flickr8k-captioner   the LSTM captioner with attention over SqueezeNet's
                         regions, trained on Flickr8k's photos: the default of
                         ``python -m caption.describe photo.jpg``
    shapes-captioner     the captioner of the built-in shapes set (its small CNN
                         trained jointly), ``--run weights/shapes-captioner``

``find_run`` turns a ``--run`` argument into a folder: the path itself when it
exists, else the shipped model of that name (``flickr8k-captioner``, or
``weights/shapes-captioner`` as the project's commands have always written it).
"""
from pathlib import Path

from ..shell.paths import user_path

FOLDER = Path(__file__).resolve().parent
MODELS = ("flickr8k-captioner", "shapes-captioner")
DEFAULT_CAPTIONER = "flickr8k-captioner"


def find_run(text):
    """The run folder that ``text`` (a --run argument) names."""
    path = Path(user_path(text))
    if path.exists() or path.name not in MODELS:
        return path
    return FOLDER / path.name


def is_shipped(path):
    """Whether ``path`` is one of the shipped models' folders (read-only: never written)."""
    return Path(path).resolve().parent == FOLDER
