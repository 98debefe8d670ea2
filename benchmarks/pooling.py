"""max_pool2d, forward and forward+backward: VGG-16's 2×2 windows of stride 2
(which tile the input) and SqueezeNet's overlapping 3×3 windows of stride 2
(ceil mode). Run alone: ``python -m benchmarks.pooling``.
"""
import numpy as np
import torch

import nnscratch.functional as F
from nnscratch import Tensor, no_grad

from .timing import Settings, compare, markdown_table

# (label, input shape, kernel, stride, ceil mode)
CASES = [("2×2 stride 2, (8, 64, 224, 224) (VGG pool1)", (8, 64, 224, 224), 2, 2, False),
         ("3×3 stride 2 ceil, (16, 64, 113, 113) (SqueezeNet pool1)", (16, 64, 113, 113),
          3, 2, True)]
QUICK_CASES = [("2×2 stride 2, (2, 3, 8, 8)", (2, 3, 8, 8), 2, 2, False),
               ("3×3 stride 2 ceil, (2, 3, 9, 9)", (2, 3, 9, 9), 3, 2, True)]


def pairs(x, kernel, stride, ceil_mode):
    """(forward, forward+backward) pairs of (ours, PyTorch) calls."""
    xt = torch.from_numpy(x)
    with no_grad():
        shape = F.max_pool2d(x, kernel, stride, ceil_mode=ceil_mode).shape
    gy = np.random.default_rng(1).standard_normal(shape, dtype=np.float32)
    gyt = torch.from_numpy(gy)

    def ours_forward():
        with no_grad():
            F.max_pool2d(x, kernel, stride, ceil_mode=ceil_mode)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.max_pool2d(xt, kernel, stride, ceil_mode=ceil_mode)

    def ours_training():
        x_ = Tensor(x, requires_grad=True)
        F.max_pool2d(x_, kernel, stride, ceil_mode=ceil_mode).backward(gy)

    def torch_training():
        torch.nn.functional.max_pool2d(xt.detach().requires_grad_(), kernel, stride,
                                       ceil_mode=ceil_mode).backward(gyt)
    return (ours_forward, torch_forward), (ours_training, torch_training)


def run(settings):
    rows = []
    for label, shape, kernel, stride, ceil_mode in QUICK_CASES if settings.quick else CASES:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
        forward, training = pairs(x, kernel, stride, ceil_mode)
        rows.append(compare("max_pool2d", f"forward {label}", *forward, settings))
        rows.append(compare("max_pool2d", f"forward+backward {label}", *training, settings))
    return rows


if __name__ == "__main__":
    print(markdown_table("max_pool2d", run(Settings.make(quick=False))))
