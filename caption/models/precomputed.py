"""A frozen pretrained CNN's precomputed output as the caption generator's
encoder, for soft attention over its regions (Xu et al. 2015, "Show, Attend
and Tell": VGG-16's conv5_3, 14 × 14 × 512, computed once, never trained).

The small CNN (caption/models/small_cnn.py) is an encoder that the captioner
trains; this one has nothing to train: caption.features has already run the
CNN and stored, per image, the pooled vector (eq. 3.3's CNN(I)) and the last
convolutional map as L region vectors. It hands both to the captioner
through the same ``regions`` method as the small CNN, so that one Captioner,
with one Attention, reads either (caption/models/captioner.py).

The regions are divided by ``scale``, the root mean square of the training
images' region values, so that whatever the CNN, the attention and the
read-out start from values near 1 (SqueezeNet's fire9 reaches 500 and
averages 2).

Shapes: N images, D vector size, L regions, C channels.
"""
from nnscratch.layers import Module


class PrecomputedRegions(Module):
    """(vectors (N, D), regions (N, L, C)) -> the same, regions / ``scale``."""

    def __init__(self, feature_size, region_size, scale=1.0):
        super().__init__()
        self.feature_size, self.region_size, self.scale = feature_size, region_size, scale

    def forward(self, inputs):
        return inputs[0]

    def regions(self, inputs):
        """(features (N, D), regions (N, L, C)): what the captioner's attention reads."""
        vectors, regions = inputs
        return vectors, regions * (1.0 / self.scale)

    def extra_repr(self):
        return f"{self.feature_size}, regions of {self.region_size}, scale={self.scale:g}"
