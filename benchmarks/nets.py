"""The networks the model benchmarks share, built once per process: building
VGG-16 draws 138 million random weights, a few seconds on each side."""
import functools

import numpy as np

from caption.cnn import build

from . import torch_models


@functools.cache
def ours(name):
    """caption.cnn's ``name`` ('vgg16' or 'squeezenet'), random weights, evaluation mode."""
    return build(name, weights=False, rng=np.random.default_rng(0))


@functools.cache
def theirs(name):
    """The same architecture in PyTorch (benchmarks/torch_models.py), evaluation mode."""
    return getattr(torch_models, name)()
