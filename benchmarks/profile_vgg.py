"""Where the time of a VGG-16 forward goes: every layer timed alone, ours
against the same layer in PyTorch, on the activations that the previous
layer produced (batch 8, 224×224, no graph). Run alone:
``python -m benchmarks.profile_vgg``.
"""
import numpy as np
import torch
from torch import nn

import nnscratch.functional as F
from caption.cnn.vgg16 import BLOCKS, CONV_NAMES
from nnscratch import no_grad

from . import nets
from .timing import Row, Settings, compare, markdown_table


def ours_layers(net):
    """(name, callable) in the order of VGG16.forward, without the (inactive) dropouts."""
    layers, names = [], iter(CONV_NAMES)
    for block, widths in enumerate(BLOCKS, start=1):
        for _ in widths:
            name = next(names)
            layers += [(name, getattr(net, name)), (f"{name} ReLU", F.relu)]
        layers.append((f"pool{block}", net.pool))
    layers.append(("flatten", lambda x: F.reshape(x, (x.shape[0], -1))))
    for name in ("fc6", "fc7", "fc8"):
        layers.append((name, getattr(net, name)))
        if name != "fc8":
            layers.append((f"{name} ReLU", F.relu))
    return layers


def torch_layers(net):
    return [m for m in net if not isinstance(m, nn.Dropout)]


def run(settings):
    N = 1 if settings.quick else 8
    layers = zip(ours_layers(nets.ours("vgg16")), torch_layers(nets.theirs("vgg16")))
    x = np.random.default_rng(1).standard_normal((N, 3, 224, 224), dtype=np.float32)
    outputs = {"ours": x, "theirs": torch.from_numpy(x)}  # each layer's input, then output
    rows = []
    with no_grad(), torch.no_grad():
        for (name, ours), theirs in layers:
            x, xt = outputs["ours"], outputs["theirs"]
            rows.append(compare("profile_vgg16", name,
                                lambda: outputs.update(ours=ours(x)),
                                lambda: outputs.update(theirs=theirs(xt)), settings))
    return rows + totals(rows)


KINDS = {"conv": "all convolutions", "ReLU": "all ReLUs", "pool": "all poolings",
         "fc": "all fully connected"}


def kind(layer):
    """'conv', 'ReLU', 'pool', 'fc' or 'other' (the flattening) for a layer's name."""
    if layer.endswith("ReLU"):
        return "ReLU"
    return next((key for key in ("conv", "pool", "fc") if layer.startswith(key)), "other")


def totals(rows):
    """One row per kind of layer, and one for the whole network."""
    summary = []
    for key, label in KINDS.items():
        chosen = [row for row in rows if kind(row.case) == key]
        summary.append(Row("profile_vgg16", label, sum(row.ours for row in chosen),
                           sum(row.theirs for row in chosen)))
    summary.append(Row("profile_vgg16", "whole network (sum of the layers)",
                       sum(row.ours for row in rows), sum(row.theirs for row in rows)))
    return summary


if __name__ == "__main__":
    print(markdown_table("VGG-16 forward, layer by layer", run(Settings.make(quick=False))))
