"""A small CNN trained jointly with the caption generator (``--cnn small``).

Thesis §3.4: convolution, ReLU and max-pooling layers, then a fully
connected layer. For the 64×64 shapes images, three conv–ReLU–pool stages
(3×3 kernels, padding 1, 2×2 pooling) give an 8×8 map; it is flattened, not
averaged, so that the features keep *where* each colour and shape is (a global
average would lose which colour belongs to which shape). Trained end to end,
this is where the convolution's backward pass does real work.

With ``global_max`` the largest response of each channel over the whole map
is appended to the flattened map: the same filter finds a "small red circle"
in any cell, so what is in the picture is learned from every position at
once, while the flattened map still tells where things are.

``regions`` also gives the last map as L = (S/8)² region vectors of C
channels, for the captioner's attention (caption/models/captioner.py).

Its input is an image of SIDE × SIDE pixels as floats in [-1, 1]
(``pixels_to_float``).

Shapes: N batch, S image side (a multiple of 8), K feature size, C channels
of the last stage.
"""
import numpy as np

import nnscratch.functional as F
from nnscratch.layers import Conv2d, Linear, MaxPool2d, Module, ReLU, Sequential

SIDE = 64   # the shapes set's images; other images are resized to it


def pixels_to_float(pixels):
    """uint8 pixels -> float32 in [-1, 1], the small CNN's input."""
    return pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


class SmallCNN(Module):
    """Images (N, 3, S, S) -> features (N, K)."""

    def __init__(self, image_size=SIDE, channels=(16, 32, 32), feature_size=256, global_max=False,
                 rng=None):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"SmallCNN: image_size must be a multiple of 8, got {image_size}")
        stages = {}
        previous = 3
        for i, width in enumerate(channels, start=1):
            stages[f"conv{i}"] = Conv2d(previous, width, 3, pad=1, rng=rng)
            stages[f"relu{i}"] = ReLU()
            stages[f"pool{i}"] = MaxPool2d(2)
            previous = width
        self.convolutions = Sequential(**stages)
        self.side = image_size // 2 ** len(channels)
        self.global_max = global_max
        inputs = previous * self.side * self.side + (previous if global_max else 0)
        self.fc = Linear(inputs, feature_size, rng=rng)
        self.feature_size, self.region_size = feature_size, previous

    def forward(self, images):
        return self.regions(images)[0]

    def regions(self, images):
        """Images (N, 3, S, S) -> (features (N, K), regions (N, L, C)) of the same pass."""
        maps = self.convolutions(images)                                  # (N, C, S/8, S/8)
        n, c = maps.shape[:2]
        flat = F.reshape(maps, (n, -1))
        if self.global_max:
            everywhere = F.reshape(F.max_pool2d(maps, self.side), (n, -1))
            flat = F.concat([flat, everywhere], axis=1)
        regions = F.transpose(F.reshape(maps, (n, c, -1)), (0, 2, 1))
        return F.relu(self.fc(flat)), regions
