"""The LSTM over a whole sequence, forward and forward+backward (BPTT): batch
128, 16 steps, 512 inputs, 512 hidden units, against ``torch.nn.LSTM`` (its
fused CPU implementation). Run alone: ``python -m benchmarks.lstm``.
"""
import numpy as np
import torch

import nnscratch.functional as F
from nnscratch import Tensor, no_grad

from . import floor
from .timing import Settings, compare, markdown_table

TRAINING_TARGET = 1.5


def run(settings):
    N, T, D, H = (4, 3, 8, 6) if settings.quick else (128, 16, 512, 512)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, D), dtype=np.float32)
    Wx = rng.uniform(-0.05, 0.05, (D, 4 * H)).astype(np.float32)
    Wh = rng.uniform(-0.05, 0.05, (H, 4 * H)).astype(np.float32)
    b = np.zeros(4 * H, np.float32)
    gy = rng.standard_normal((N, T, H), dtype=np.float32)
    lstm = torch.nn.LSTM(D, H, batch_first=True)
    xt, gyt = torch.from_numpy(x), torch.from_numpy(gy)

    def ours_forward():
        with no_grad():
            F.lstm(x, None, None, Wx, Wh, b)

    def torch_forward():
        with torch.no_grad():
            lstm(xt)

    def ours_training():
        x_, Wx_, Wh_, b_ = (Tensor(a, requires_grad=True) for a in (x, Wx, Wh, b))
        F.lstm(x_, None, None, Wx_, Wh_, b_).backward(gy)

    def torch_training():
        lstm.zero_grad()
        lstm(xt.detach().requires_grad_())[0].backward(gyt)

    label = f"N={N}, T={T}, D={D}, H={H}"
    return [compare("lstm", f"forward {label}", ours_forward, torch_forward, settings,
                    floor=floor.Products(floor.lstm(N, T, D, H))),
            compare("lstm", f"forward+backward {label}", ours_training, torch_training,
                    settings, TRAINING_TARGET,
                    floor=floor.Products(floor.lstm(N, T, D, H, backward=True)))]


if __name__ == "__main__":
    print(markdown_table("LSTM", run(Settings.make(quick=False))))
