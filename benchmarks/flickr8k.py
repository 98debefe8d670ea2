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
and the floor, our step's matrix products alone (benchmarks/floor.py; with
attention, the per-image products of the attention listed one by one, as
NumPy's batched matmul runs them).

With attention (issue 21, item 8), the model of ``python -m caption.train
--data dataset_flickr8k.json --features f8k_squeezenet.h5 --attention 128``:
REAL_DATA's batch of 20 images with their 5 sentences (100 rows), SqueezeNet's
512-d vectors and its fire9 map as 196 regions of 512 channels, stored in
float16 and widened to float32 a batch at a time as the caption task does,
read through caption/models/precomputed.py's ``PrecomputedRegions`` by
attention of size 128 queried by [x_t ; x_{t-1}] ("words"). Its PyTorch twin
is the same FeatureCaptioner with the same attention. ``STEPS_TIMED`` batches
of random words (lengths drawn as above) are stepped through in turn, and
the epoch, 6000 training images in batches of 20, is 300 such steps: the
median step × 300. A row without attention at the same sizes shows what the
attention costs each side.

Run alone: ``python -m benchmarks.flickr8k``.
"""
import itertools

import numpy as np
import torch

from caption.cnn.extract import FEATURE_SIZE, REGION_SHAPE
from caption.data.features import region_scale
from caption.models.captioner import Captioner
from caption.models.precomputed import PrecomputedRegions
from caption.training.config import REAL_DATA
from nnscratch import Tensor
from nnscratch.optim import Adam, clip_grad_norm

from . import floor, torch_models
from .timing import Row, Settings, compare, markdown_table

CONFIG = REAL_DATA["caption"]
VOCAB, FEATURES, EMBED, HIDDEN = 2539, 4096, CONFIG["embed_size"], CONFIG["hidden_size"]
DROPOUT, MAX_LENGTH, LR = CONFIG["dropout"], CONFIG["max_length"], CONFIG["lr"]
IMAGES, SENTENCES, BUCKETS, CLIP = 32, 5, 4, 5.0
# How many of Flickr8k's 30,000 training sentences have 0, 1, 2, ... words (30: 30 or more).
LENGTHS = [0, 0, 15, 126, 346, 862, 1958, 2537, 2929, 3318, 3320, 3131, 2777, 2321, 1847,
           1329, 977, 662, 513, 365, 204, 136, 110, 74, 52, 33, 20, 11, 7, 9, 11]
TARGET, FLOOR_TARGET = 1.0, 1.5
START, END, PAD = 1, 2, 0
# With attention over SqueezeNet's regions (issue 21): REAL_DATA's batch of 20 images, the
# attention size of the Flickr8k runs, and an epoch of Flickr8k's 6000 training images.
ATTENTION_IMAGES, ATTENTION, CNN = CONFIG["batch_size"], 128, "squeezenet"
EPOCH_STEPS, STEPS_TIMED = 6000 // ATTENTION_IMAGES, 5


def batch(images, sentences, vocab, seed=0, features=FEATURES):
    """Features (images, ``features``), ids and mask (images·sentences, T + 2) of
    <start> words <end> <pad>..., and the image of each row."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(LENGTHS, dtype=float)
    words = rng.choice(len(LENGTHS), size=images * sentences, p=counts / counts.sum())
    words = np.minimum(words, MAX_LENGTH)
    ids = np.full((len(words), words.max() + 2), PAD, dtype=np.int64)
    mask = np.arange(ids.shape[1])[None, :] < words[:, None] + 2
    for row, n in enumerate(words):
        ids[row, :n + 2] = [START, *rng.integers(3, vocab, n), END]
    vectors = rng.standard_normal((images, features), dtype=np.float32)
    return vectors, ids, mask, np.repeat(np.arange(images), sentences)


def region_batch(images, sentences, vocab, seed=0):
    """``batch`` with SqueezeNet's 512-d vectors, and its regions (images, L, C) in
    float16 as caption.features stores them (ReLU outputs: |N(0, 1)|)."""
    vectors, ids, mask, image_of_row = batch(images, sentences, vocab, seed, FEATURE_SIZE[CNN])
    rng = np.random.default_rng(1000 + seed)
    regions = np.abs(rng.standard_normal((images, *REGION_SHAPE[CNN]), dtype=np.float32))
    return vectors, regions.astype(np.float16), ids, mask, image_of_row


def bucket_sizes(mask, buckets):
    """(sentences, steps) of each group that ``Captioner.loss`` runs."""
    lengths = mask.sum(axis=1)
    groups = np.array_split(np.argsort(-lengths, kind="stable"), buckets)
    return [(len(rows), int(lengths[rows].max()) - 1) for rows in groups if len(rows)]


def step_products(mask, images, vocab, features=FEATURES, attention=0):
    """The matrix products of one step of ours (benchmarks/floor.py); with
    ``attention``, those of the keys (once an image) and of the attention over
    SqueezeNet's regions, and the read-out from [h ; c]."""
    (L, C), read_out = REGION_SHAPE[CNN], HIDDEN
    shapes = floor.linear(images, features, EMBED, backward=True, input_gradient=False)
    if attention:
        shapes += floor.linear(images * L, C, attention, backward=True, input_gradient=False)
        read_out += C
    for n, steps in bucket_sizes(mask, BUCKETS):
        shapes += floor.lstm(n, steps, 2 * EMBED, HIDDEN, backward=True)
        if attention:
            shapes += floor.attention(n, steps, 2 * EMBED, attention, L, C, backward=True)
        shapes += floor.linear(n * steps, read_out, vocab, backward=True)
    return shapes


def training_step(model, loss_args, optimizer, clip):
    """A call that runs one training step on the arguments ``loss_args``."""
    return steps_in_turn(model, [loss_args], lambda args: args, optimizer, clip)


def steps_in_turn(model, batches, loss_args, optimizer, clip):
    """A call that runs one training step on the next of ``batches``, in turn;
    ``loss_args(batch)`` gives the arguments of ``model.loss``."""
    turn = itertools.cycle(batches)

    def step():
        optimizer.zero_grad()
        model.loss(*loss_args(next(turn))).backward()
        clip(model.parameters(), CLIP)
        optimizer.step()
    return step


def ours_with_regions(vocab, attention, scale):
    """Our Captioner on SqueezeNet's vectors and regions (attention 0: the vectors alone)."""
    D, (L, C) = FEATURE_SIZE[CNN], REGION_SHAPE[CNN]
    encoder = PrecomputedRegions(D, C, scale) if attention else None
    return Captioner(vocab, D, embed_size=EMBED, hidden_size=HIDDEN, dropout=DROPOUT,
                     encoder=encoder, attention=attention, attention_query="words",
                     rng=np.random.default_rng(0)).train()


def ours_inputs(attention):
    """A region batch -> the arguments of our loss, the regions widened to float32 as
    the caption task does (caption/training/tasks/caption.py)."""
    def loss_args(b):
        vectors, regions, ids, mask, image_of_row = b
        images = (Tensor(vectors), Tensor(regions.astype(np.float32))) if attention else \
            Tensor(vectors)
        return images, ids, mask, image_of_row, BUCKETS
    return loss_args


def twin_inputs(attention):
    """The same for the PyTorch twin."""
    def loss_args(b):
        vectors, regions, ids, mask, image_of_row = b
        tensors = [torch.from_numpy(a) for a in (vectors, ids, mask.astype(np.float32),
                                                 image_of_row)]
        widened = torch.from_numpy(regions.astype(np.float32)) if attention else None
        return (*tensors, BUCKETS, widened)
    return loss_args


def attention_rows(settings):
    """The step with attention over SqueezeNet's regions, the epoch it makes, and the
    step without attention at the same sizes; ours against the PyTorch twin."""
    images, vocab, turns = (2, 50, 2) if settings.quick else (ATTENTION_IMAGES, VOCAB,
                                                              STEPS_TIMED)
    batches = [region_batch(images, SENTENCES, vocab, seed) for seed in range(turns)]
    scale = region_scale(np.concatenate([b[1] for b in batches]))
    T = max(b[2].shape[1] for b in batches) - 1
    (L, C), D = REGION_SHAPE[CNN], FEATURE_SIZE[CNN]
    rows = []
    for attention in (ATTENTION, 0):
        model = ours_with_regions(vocab, attention, scale)
        ours = steps_in_turn(model, batches, ours_inputs(attention),
                             Adam(model.parameters(), lr=LR), clip_grad_norm)
        twin = torch_models.FeatureCaptioner(vocab, D, EMBED, HIDDEN, DROPOUT, attention, C,
                                             scale).train()
        theirs = steps_in_turn(twin, batches, twin_inputs(attention),
                               torch.optim.Adam(twin.parameters(), lr=LR),
                               torch.nn.utils.clip_grad_norm_)
        products = in_turn([floor.Products(step_products(b[3], images, vocab, D, attention))
                            for b in batches])
        what = (f"attention {attention} over {L} × {C} regions" if attention
                else "no attention")
        rows.append(compare("flickr8k", f"training step, {images} images × {SENTENCES} "
                            f"sentences, V={vocab}, {D}-d {CNN} features, {what}, "
                            f"T≤{T}, {turns} batches in turn", ours, theirs, settings,
                            TARGET, floor=products))
    step = rows[0]
    rows.insert(1, Row("flickr8k", f"epoch with attention: {EPOCH_STEPS} steps (the step "
                       f"above × {EPOCH_STEPS})", step.ours * EPOCH_STEPS,
                       step.theirs * EPOCH_STEPS, TARGET, floor=step.floor * EPOCH_STEPS))
    return rows


def in_turn(calls):
    """A call that runs the next of ``calls``, in turn."""
    turn = itertools.cycle(calls)
    return lambda: next(turn)()


def issue16_row(settings):
    """Issue 16's step: 32 images of VGG-16's 4096-d features, without attention."""
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
    return compare("flickr8k", case, ours, theirs, settings, TARGET, floor=products,
                   floor_target=FLOOR_TARGET)


def run(settings):
    return [issue16_row(settings), *attention_rows(settings)]


if __name__ == "__main__":
    print(markdown_table("Captioner training step at Flickr8k scale",
                         run(Settings.make(quick=False))))
