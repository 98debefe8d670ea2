"""The small CNN trained jointly with the caption generator (caption/cnn/small.py)."""
import numpy as np
import pytest

from nnscratch import Tensor
from nnscratch.gradcheck import gradcheck
from caption.models.small_cnn import SmallCNN


@pytest.mark.parametrize("global_max", [False, True])
def test_feature_shape_and_gradient(global_max):
    rng = np.random.default_rng(0)
    net = SmallCNN(image_size=16, channels=(2, 3), feature_size=5, global_max=global_max, rng=rng)
    expected_inputs = 3 * 4 * 4 + (3 if global_max else 0)   # 16 / 2**2 = 4
    assert net.fc.W.shape == (expected_inputs, 5)
    images = rng.standard_normal((2, 3, 16, 16))
    assert net(Tensor(images.astype(np.float32))).shape == (2, 5)
    # random images keep max-pool ties and ReLU kinks away from the differences
    assert gradcheck(net, [images], rtol=1e-4, atol=1e-6)


def test_regions_are_the_last_map_position_by_position():
    rng = np.random.default_rng(1)
    net = SmallCNN(image_size=16, channels=(2, 3), feature_size=5, global_max=True, rng=rng)
    images = rng.standard_normal((2, 3, 16, 16))
    features, regions = net.regions(Tensor(images))
    maps = net.convolutions(Tensor(images)).data                      # (2, 3, 4, 4)
    assert regions.shape == (2, 16, 3) and net.region_size == 3
    assert np.allclose(regions.data[:, 4 * 1 + 2], maps[:, :, 1, 2])   # row 1, column 2
    assert np.allclose(features.data, net(Tensor(images)).data)

    class Regions(SmallCNN):
        def forward(self, images):
            return self.regions(images)

    twin = Regions(image_size=16, channels=(2, 3), feature_size=5, global_max=True,
                   rng=np.random.default_rng(1))
    assert gradcheck(twin, [images], rtol=1e-4, atol=1e-6)


def test_image_size_must_divide():
    with pytest.raises(ValueError, match="multiple of 8"):
        SmallCNN(image_size=60)
