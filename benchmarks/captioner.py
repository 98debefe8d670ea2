"""One training step of the caption generator: caption/models/captioner.py's
Captioner (LSTM, the image concatenated to every input, embedding 64, hidden
256) with caption/models/small_cnn.py's SmallCNN at its own defaults (16, 32, 32
channels, flattened map) trained jointly, batch 32 of 64×64 images, captions
of 16 steps, a vocabulary of 40 words; loss, backward and an Adam update.
(``python -m caption.train`` now takes 64 channels in the last stage, the
global maximum and attention: the core of the step, not its exact default.)
PyTorch runs the same architecture (benchmarks/torch_models.py); the floor
is our step's matrix products alone (benchmarks/floor.py). Run alone:
``python -m benchmarks.captioner``.
"""
import numpy as np
import torch

from caption.models.captioner import Captioner
from caption.models.small_cnn import SmallCNN
from nnscratch.optim import Adam

from . import floor, torch_models
from .timing import Settings, compare, markdown_table

VOCAB, EMBED, HIDDEN, LR = 40, 64, 256, 2e-3


def batch(N, S, T, seed=0):
    """Random images (N, 3, S, S), ids (N, T + 1) and a mask of lengths T/2..T + 1."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((N, 3, S, S), dtype=np.float32)
    ids = rng.integers(0, VOCAB, (N, T + 1))
    lengths = rng.integers((T + 1) // 2, T + 2, N)
    mask = np.arange(T + 1)[None, :] < lengths[:, None]
    return images, ids, mask


def training_step(model, optimizer):
    """One Adam step on a batch; both libraries' models and optimizers fit."""
    def step(images, ids, mask):
        optimizer.zero_grad()
        model.loss(images, ids, mask).backward()
        optimizer.step()
    return step


def ours_step(S, rng):
    encoder = SmallCNN(image_size=S, rng=rng)
    model = Captioner(VOCAB, encoder.feature_size, embed_size=EMBED, hidden_size=HIDDEN,
                      encoder=encoder, rng=rng).train()
    return training_step(model, Adam(model.parameters(), lr=LR))


def torch_step(S):
    model = torch_models.Captioner(VOCAB, image_size=S, embed_size=EMBED, hidden_size=HIDDEN)
    return training_step(model, torch.optim.Adam(model.parameters(), lr=LR))


def step_products(N, S, steps, channels=(16, 32, 32), features=256):
    """The matrix products of one step of ours (the images need no gradient)."""
    shapes, previous = [], 3
    for i, width in enumerate(channels):
        shapes += floor.conv2d(N, previous, width, (S >> i, S >> i), (3, 3), backward=True,
                               input_gradient=i > 0)
        previous = width
    side = S >> len(channels)
    return (shapes + floor.linear(N, previous * side * side, features, backward=True)
            + floor.linear(N, features, EMBED, backward=True)
            + floor.lstm(N, steps, 2 * EMBED, HIDDEN, backward=True)
            + floor.linear(N * steps, HIDDEN, VOCAB, backward=True))


def run(settings):
    N, S, T = (4, 16, 5) if settings.quick else (32, 64, 16)
    images, ids, mask = batch(N, S, T)
    ours = ours_step(S, np.random.default_rng(0))
    theirs = torch_step(S)
    tensors = tuple(torch.from_numpy(a) for a in (images, ids, mask.astype(np.float32)))
    products = floor.Products(step_products(N, S, int(mask.sum(axis=1).max()) - 1))
    return [compare("captioner", f"training step, batch {N}, {S}×{S} images, T={T}",
                    lambda: ours(images, ids, mask), lambda: theirs(*tensors), settings,
                    floor=products)]


if __name__ == "__main__":
    print(markdown_table("Captioner training step", run(Settings.make(quick=False))))
