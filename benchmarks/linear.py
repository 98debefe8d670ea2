"""linear (the fully-connected layer), VGG-16's fc6: 25088 → 4096 at batch 8,
forward and forward+backward. Run alone: ``python -m benchmarks.linear``.
"""
import numpy as np
import torch

import nnscratch.functional as F
from nnscratch import Tensor, no_grad

from . import floor
from .timing import Settings, compare, markdown_table


def run(settings):
    N, D, M = (2, 64, 32) if settings.quick else (8, 25088, 4096)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D), dtype=np.float32)
    W = rng.standard_normal((D, M), dtype=np.float32) * np.float32(np.sqrt(2 / D))
    b = rng.standard_normal(M, dtype=np.float32)
    gy = rng.standard_normal((N, M), dtype=np.float32)
    # PyTorch keeps its weight as (M, D); a contiguous copy in its own layout.
    xt, Wt, bt, gyt = (torch.from_numpy(a) for a in (x, np.ascontiguousarray(W.T), b, gy))

    def ours_forward():
        with no_grad():
            F.linear(x, W, b)

    def torch_forward():
        with torch.no_grad():
            torch.nn.functional.linear(xt, Wt, bt)

    def ours_training():
        F.linear(*(Tensor(a, requires_grad=True) for a in (x, W, b))).backward(gy)

    def torch_training():
        inputs = (a.detach().requires_grad_() for a in (xt, Wt, bt))
        torch.nn.functional.linear(*inputs).backward(gyt)

    label = f"{D}→{M}, batch {N}"
    return [compare("linear", f"forward {label}", ours_forward, torch_forward, settings,
                    floor=floor.Products(floor.linear(N, D, M))),
            compare("linear", f"forward+backward {label}", ours_training, torch_training, settings,
                    floor=floor.Products(floor.linear(N, D, M, backward=True)))]


if __name__ == "__main__":
    print(markdown_table("linear", run(Settings.make(quick=False))))
