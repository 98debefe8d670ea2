"""SqueezeNet v1.1 (Iandola et al. 2016): a small ImageNet CNN, thesis §3.4.

Built from "fire" modules: a 1×1 *squeeze* convolution to few channels,
then two *expand* convolutions side by side, 1×1 and 3×3 (padding 1), whose
outputs are concatenated along the channels (expand1x1 first); every
convolution is followed by a ReLU. The layout follows the authors' Caffe
definition (SqueezeNet_v1.1/deploy.prototxt), which the pretrained weights
were trained with:

    layer            settings                          output for 227×227
    conv1            64, 3×3, stride 2, no padding     64 × 113 × 113
    pool1            max 3×3, stride 2, ceil mode      64 × 56 × 56
    fire2, fire3     squeeze 16, expand 64 + 64        128 × 56 × 56
    pool3            max 3×3, stride 2, ceil mode      128 × 28 × 28
    fire4, fire5     squeeze 32, expand 128 + 128      256 × 28 × 28
    pool5            max 3×3, stride 2, ceil mode      256 × 14 × 14
    fire6, fire7     squeeze 48, expand 192 + 192      384 × 14 × 14
    fire8, fire9     squeeze 64, expand 256 + 256      512 × 14 × 14
    dropout9         p = 0.5 while training
    conv10           1000, 1×1, then ReLU              1000 × 14 × 14
    pool10           global average                    1000

Caffe rounds pooled sizes up ("ceil mode"), so the last, partial window of
each pooling is kept; its class scores are the global average of conv10's
ReLU output (no fully-connected layer). ``features(x)`` is the global
average of fire9's output, 512-d, the image code of thesis eq. 3.3;
``features_and_map(x)`` gives it with fire9's map itself, 512 × 14 × 14, the
regions that soft attention looks at.
Shapes: N batch; x is (N, 3, 227, 227).
"""
import nnscratch.functional as F
from nnscratch.layers import Conv2d, Dropout, MaxPool2d, Module

from .preprocess import Preprocessing

# (squeeze channels, expand channels of each of the two branches)
FIRES = {"fire2": (16, 64), "fire3": (16, 64), "fire4": (32, 128), "fire5": (32, 128),
         "fire6": (48, 192), "fire7": (48, 192), "fire8": (64, 256), "fire9": (64, 256)}
POOL_AFTER = ("conv1", "fire3", "fire5")  # pool1, pool3, pool5
INPUT_SIZE = 227


class Fire(Module):
    """x (N, C, H, W) -> concat(relu(expand1x1(s)), relu(expand3x3(s))), s = relu(squeeze1x1(x)).

    Output (N, 2E, H, W); S is the squeeze width, E the expand width of each branch.
    """

    def __init__(self, in_channels, squeeze, expand, rng=None):
        super().__init__()
        self.squeeze1x1 = Conv2d(in_channels, squeeze, 1, rng=rng)
        self.expand1x1 = Conv2d(squeeze, expand, 1, rng=rng)
        self.expand3x3 = Conv2d(squeeze, expand, 3, pad=1, rng=rng)

    def forward(self, x):
        s = F.relu(self.squeeze1x1(x))
        return F.concat([F.relu(self.expand1x1(s)), F.relu(self.expand3x3(s))], axis=1)


class SqueezeNet(Module):
    """x (N, 3, 227, 227) -> logits (N, 1000); ``features(x)`` -> (N, 512)."""

    # Caffe's convention, which the released weights expect: BGR, 0..255, minus
    # the per-channel ImageNet mean.
    DEFAULT_PREPROCESSING = Preprocessing(INPUT_SIZE, "BGR", (104.006, 116.669, 122.679))

    def __init__(self, num_classes=1000, rng=None):
        super().__init__()
        self.conv1 = Conv2d(3, 64, 3, stride=2, rng=rng)
        in_channels = 64
        for name, (squeeze, expand) in FIRES.items():
            setattr(self, name, Fire(in_channels, squeeze, expand, rng=rng))
            in_channels = 2 * expand
        self.pool = MaxPool2d(3, stride=2, ceil_mode=True)
        self.dropout9 = Dropout(0.5)
        self.conv10 = Conv2d(in_channels, num_classes, 1, rng=rng)

    def fire_maps(self, x):
        """conv1 to fire9: (N, 3, 227, 227) -> (N, 512, 14, 14)."""
        x = self.pool(F.relu(self.conv1(x)))
        for name in FIRES:
            x = getattr(self, name)(x)
            if name in POOL_AFTER:
                x = self.pool(x)
        return x

    def features(self, x):
        """The global average of fire9's output, (N, 512)."""
        return F.global_avg_pool2d(self.fire_maps(x))

    def features_and_map(self, x):
        """(the global average of fire9 (N, 512), fire9 (N, 512, 14, 14)) of one pass."""
        maps = self.fire_maps(x)
        return F.global_avg_pool2d(maps), maps

    def forward(self, x):
        """The 1000 ImageNet logits: the global average of relu(conv10)."""
        x = self.conv10(self.dropout9(self.fire_maps(x)))
        return F.global_avg_pool2d(F.relu(x))
