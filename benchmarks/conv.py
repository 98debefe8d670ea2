"""conv2d, forward and forward+backward, at the shapes of VGG-16's blocks.

Batch 8; 3×3 kernels with padding 1 at the four VGG resolutions, plus a 1×1
convolution (SqueezeNet's squeeze/expand, no im2col) and a 3×3 convolution
of stride 2. Forward runs without a graph (inference); forward+backward
asks for the gradients of x, W and b. The floor is ours's matrix products,
one per image and pass, timed alone. Run alone: ``python -m benchmarks.conv``.
"""
import numpy as np
import torch

import nnscratch.functional as F
from nnscratch import Tensor, no_grad

from . import floor
from .timing import Settings, compare, markdown_table

# (label, C, F, size, kernel, stride, pad, is a VGG shape)
CASES = [
    ("3×3 64→64 @112", 64, 64, 112, 3, 1, 1, True),
    ("3×3 128→128 @56", 128, 128, 56, 3, 1, 1, True),
    ("3×3 256→256 @28", 256, 256, 28, 3, 1, 1, True),
    ("3×3 512→512 @14", 512, 512, 14, 3, 1, 1, True),
    ("1×1 256→64 @56", 256, 64, 56, 1, 1, 0, False),
    ("3×3 stride 2 128→256 @56", 128, 256, 56, 3, 2, 1, False),
]
QUICK_CASES = [("3×3 4→6 @8", 4, 6, 8, 3, 1, 1, True), ("1×1 4→6 @8", 4, 6, 8, 1, 1, 0, False),
               ("3×3 stride 2 4→6 @8", 4, 6, 8, 3, 2, 1, False)]
FORWARD_TARGET, TRAINING_TARGET = 1.3, 1.5


def arrays(batch, C, filters, size, kernel, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, C, size, size), dtype=np.float32)
    W = rng.standard_normal((filters, C, kernel, kernel), dtype=np.float32)
    W *= np.float32(np.sqrt(2 / (C * kernel * kernel)))
    b = rng.standard_normal(filters, dtype=np.float32)
    return x, W, b


def forward_pair(x, W, b, stride, pad):
    xt, Wt, bt = (torch.from_numpy(a) for a in (x, W, b))

    def ours():
        with no_grad():
            F.conv2d(x, W, b, stride=stride, pad=pad)

    def theirs():
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, Wt, bt, stride=stride, padding=pad)
    return ours, theirs


def training_pair(x, W, b, stride, pad):
    """Forward, then backward of a fixed upstream gradient into x, W and b."""
    with no_grad():
        gy = np.random.default_rng(1).standard_normal(
            F.conv2d(x, W, b, stride=stride, pad=pad).shape, dtype=np.float32)
    gyt = torch.from_numpy(gy)

    def ours():
        inputs = [Tensor(a, requires_grad=True) for a in (x, W, b)]
        F.conv2d(*inputs, stride=stride, pad=pad).backward(gy)

    def theirs():
        inputs = [torch.from_numpy(a).requires_grad_() for a in (x, W, b)]
        torch.nn.functional.conv2d(*inputs, stride=stride, padding=pad).backward(gyt)
    return ours, theirs


def run(settings):
    batch = 2 if settings.quick else 8
    rows = []
    cases = QUICK_CASES if settings.quick else CASES
    for label, C, filters, size, kernel, stride, pad, vgg in cases:
        x, W, b = arrays(batch, C, filters, size, kernel)
        out = ((size + 2 * pad - kernel) // stride + 1,) * 2
        products = [floor.Products(floor.conv2d(batch, C, filters, out, (kernel, kernel),
                                                backward=backward, stride=stride))
                    for backward in (False, True)]
        rows.append(compare("conv2d", f"forward {label}", *forward_pair(x, W, b, stride, pad),
                            settings, FORWARD_TARGET if vgg else None, floor=products[0]))
        rows.append(compare("conv2d", f"forward+backward {label}",
                            *training_pair(x, W, b, stride, pad), settings,
                            TRAINING_TARGET if vgg else None, floor=products[1]))
    return rows


if __name__ == "__main__":
    print(markdown_table("conv2d (batch 8)", run(Settings.make(quick=False))))
