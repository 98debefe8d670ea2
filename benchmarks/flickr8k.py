"""One training step of the caption generator at Flickr8k's scale, on
precomputed CNN features, as ``python -m caption.train --data
dataset_flickr8k.json --features vgg_feats.h5`` runs it: the model and
settings it takes for real data (caption/training/config.py ``REAL_DATA``:
LSTM, embedding and hidden 256, dropout 0.5, sentences cut at 20 words, Adam
at 1e-3; the image concatenated to every input, each batch run in 4 groups of
similar length, gradient clipping at 5), a vocabulary of 2,539 words
(Flickr8k's 30,000 training sentences, words seen 5 times or more), and issue
16's batch: 32 images of 4096-d (VGG-16 fc7) features with their 5 sentences
each (160 rows).

The sentence lengths are drawn from those of Flickr8k's training sentences
(``LENGTHS``, counted with caption/data/tokenize.py), so the batch has their
shape without the dataset; the words and features are random, which changes
no timing. Three columns: ours, the PyTorch twin (benchmarks/torch_models.py)
and the floor, our step's matrix products alone (benchmarks/floor.py).
Run alone: ``python -m benchmarks.flickr8k``.
"""
import numpy as np
import torch

from caption.models.captioner import Captioner
from caption.training.config import REAL_DATA
from nnscratch import Tensor
from nnscratch.optim import Adam, clip_grad_norm

from . import floor, torch_models
from .timing import Settings, compare, markdown_table

CONFIG = REAL_DATA["caption"]
VOCAB, FEATURES, EMBED, HIDDEN = 2539, 4096, CONFIG["embed_size"], CONFIG["hidden_size"]
DROPOUT, MAX_LENGTH, LR = CONFIG["dropout"], CONFIG["max_length"], CONFIG["lr"]
IMAGES, SENTENCES, BUCKETS, CLIP = 32, 5, 4, 5.0
# How many of Flickr8k's 30,000 training sentences have 0, 1, 2, ... words (30: 30 or more).
LENGTHS = [0, 0, 15, 126, 346, 862, 1958, 2537, 2929, 3318, 3320, 3131, 2777, 2321, 1847,
           1329, 977, 662, 513, 365, 204, 136, 110, 74, 52, 33, 20, 11, 7, 9, 11]
TARGET, FLOOR_TARGET = 1.0, 1.5
START, END, PAD = 1, 2, 0


def batch(images, sentences, vocab, seed=0):
    """Features (images, 4096), ids and mask (images·sentences, T + 2) of
    <start> words <end> <pad>..., and the image of each row."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(LENGTHS, dtype=float)
    words = rng.choice(len(LENGTHS), size=images * sentences, p=counts / counts.sum())
    words = np.minimum(words, MAX_LENGTH)
    ids = np.full((len(words), words.max() + 2), PAD, dtype=np.int64)
    mask = np.arange(ids.shape[1])[None, :] < words[:, None] + 2
    for row, n in enumerate(words):
        ids[row, :n + 2] = [START, *rng.integers(3, vocab, n), END]
    features = rng.standard_normal((images, FEATURES), dtype=np.float32)
    return features, ids, mask, np.repeat(np.arange(images), sentences)


def bucket_sizes(mask, buckets):
    """(sentences, steps) of each group that ``Captioner.loss`` runs."""
    lengths = mask.sum(axis=1)
    groups = np.array_split(np.argsort(-lengths, kind="stable"), buckets)
    return [(len(rows), int(lengths[rows].max()) - 1) for rows in groups if len(rows)]


def step_products(mask, images, vocab):
    """The matrix products of one step of ours (benchmarks/floor.py)."""
    shapes = floor.linear(images, FEATURES, EMBED, backward=True, input_gradient=False)
    for n, steps in bucket_sizes(mask, BUCKETS):
        shapes += floor.lstm(n, steps, 2 * EMBED, HIDDEN, backward=True)
        shapes += floor.linear(n * steps, HIDDEN, vocab, backward=True)
    return shapes


def training_step(model, loss_args, optimizer, clip):
    def step():
        optimizer.zero_grad()
        model.loss(*loss_args).backward()
        clip(model.parameters(), CLIP)
        optimizer.step()
    return step


def run(settings):
    images, vocab = (4, 50) if settings.quick else (IMAGES, VOCAB)
    features, ids, mask, image_of_row = batch(images, SENTENCES, vocab)
    model = Captioner(vocab, FEATURES, embed_size=EMBED, hidden_size=HIDDEN, dropout=DROPOUT,
                      rng=np.random.default_rng(0)).train()
    ours = training_step(model, (Tensor(features), ids, mask, image_of_row, BUCKETS),
                         Adam(model.parameters(), lr=LR), clip_grad_norm)
    twin = torch_models.FeatureCaptioner(vocab, FEATURES, EMBED, HIDDEN, DROPOUT).train()
    tensors = [torch.from_numpy(a) for a in (features, ids, mask.astype(np.float32), image_of_row)]
    theirs = training_step(twin, (*tensors, BUCKETS), torch.optim.Adam(twin.parameters(), lr=LR),
                           torch.nn.utils.clip_grad_norm_)
    products = floor.Products(step_products(mask, images, vocab))
    case = (f"training step, {images} images × {SENTENCES} sentences, V={vocab}, "
            f"{FEATURES}-d features, T≤{ids.shape[1] - 1}")
    return [compare("flickr8k", case, ours, theirs, settings, TARGET, floor=products,
                    floor_target=FLOOR_TARGET)]


if __name__ == "__main__":
    print(markdown_table("Captioner training step at Flickr8k scale",
                         run(Settings.make(quick=False))))
