"""VGG-16, configuration D of Simonyan & Zisserman (2014): thesis §3.4, Fig. 3.4.

Thirteen 3×3 convolutions (stride 1, padding 1, each followed by a ReLU) in
five blocks, each block closed by a 2×2 max-pooling of stride 2, then three
fully-connected layers; dropout (p = 0.5) after fc6 and fc7 while training.

    block   layers                       output for a 224×224 input
    1       conv1_1, conv1_2   (64)      64 × 112 × 112
    2       conv2_1, conv2_2   (128)     128 × 56 × 56
    3       conv3_1..conv3_3   (256)     256 × 28 × 28
    4       conv4_1..conv4_3   (512)     512 × 14 × 14
    5       conv5_1..conv5_3   (512)     512 × 7 × 7
            fc6 (25088 -> 4096), fc7 (4096 -> 4096), fc8 (4096 -> 1000)

The image code of the thesis (§3.6.1, eq. 3.3) is fc7 after its ReLU, the
4096-d ``features(x)``; ``net(x)`` gives the 1000 ImageNet logits of fc8.
``features_and_map(x)`` also gives conv5_3's map (after its ReLU, before
pool5), 512 × 14 × 14: the regions that soft attention looks at (Xu et al.
2015 use this very map).
The flattening before fc6 is in (channel, row, column) order, as in Caffe,
Lasagne and torchvision. Shapes: N batch; x is (N, 3, 224, 224).
"""
import nnscratch.functional as F
from nnscratch.layers import Conv2d, Dropout, Linear, MaxPool2d, Module

from .preprocess import Preprocessing

# Output channels of each convolution, block by block (configuration D).
BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
CONV_NAMES = tuple(f"conv{block}_{i}" for block, widths in enumerate(BLOCKS, start=1)
                   for i in range(1, len(widths) + 1))
FC_NAMES = ("fc6", "fc7", "fc8")
INPUT_SIZE = 224


class VGG16(Module):
    """x (N, 3, 224, 224) -> logits (N, 1000); ``features(x)`` -> fc7 (N, 4096)."""

    # Without a weight file: the Caffe/Lasagne convention of the original
    # release (BGR, 0..255, minus the per-channel ImageNet mean).
    DEFAULT_PREPROCESSING = Preprocessing(INPUT_SIZE, "BGR", (103.939, 116.779, 123.68))

    def __init__(self, num_classes=1000, rng=None):
        super().__init__()
        in_channels = 3
        for name, out_channels in zip(CONV_NAMES, (w for block in BLOCKS for w in block)):
            setattr(self, name, Conv2d(in_channels, out_channels, 3, pad=1, rng=rng))
            in_channels = out_channels
        self.pool = MaxPool2d(2)
        self.fc6 = Linear(512 * 7 * 7, 4096, rng=rng)
        self.dropout6 = Dropout(0.5)
        self.fc7 = Linear(4096, 4096, rng=rng)
        self.dropout7 = Dropout(0.5)
        self.fc8 = Linear(4096, num_classes, rng=rng)

    def last_map(self, x):
        """The thirteen convolutions: (N, 3, 224, 224) -> conv5_3 (N, 512, 14, 14),
        every block but the last closed by its pooling."""
        layers = iter(CONV_NAMES)
        for block, widths in enumerate(BLOCKS):
            x = self.pool(x) if block else x
            for _ in widths:
                x = F.relu(getattr(self, next(layers))(x))
        return x

    def convolutions(self, x):
        """The five blocks: (N, 3, 224, 224) -> pool5 (N, 512, 7, 7)."""
        return self.pool(self.last_map(x))

    def features(self, x):
        """fc7 after its ReLU, (N, 4096): the image code of eq. 3.3."""
        return self.features_and_map(x)[0]

    def features_and_map(self, x):
        """(fc7 (N, 4096), conv5_3 (N, 512, 14, 14)) of one pass."""
        conv5_3 = self.last_map(x)
        x = self.pool(conv5_3)
        if x.shape[1:] != (512, 7, 7):
            raise ValueError(f"VGG16: pool5 has shape {x.shape[1:]}, fc6 needs (512, 7, 7) "
                             f"(the input must be 3 x {INPUT_SIZE} x {INPUT_SIZE})")
        x = F.reshape(x, (x.shape[0], -1))
        x = self.dropout6(F.relu(self.fc6(x)))
        return F.relu(self.fc7(x)), conv5_3

    def forward(self, x):
        """The 1000 ImageNet logits (fc8; a softmax gives the class probabilities)."""
        return self.fc8(self.dropout7(self.features(x)))
