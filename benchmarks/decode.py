"""Decoding at Flickr8k's scale: greedy and beam search (width 3) of the 1,000
test images, as ``python -m caption.evaluate`` decodes them (issue 16, item 3).

The model is the one benchmarks/flickr8k.py trains (caption/training/config.py
``REAL_DATA``: LSTM, embedding and hidden 256, a vocabulary of 2,539 words,
4096-d VGG-16 features), decoded the way the caption task does
(caption/training/tasks/caption.py): ``EVAL_BATCH`` = 250 images at a time,
at most 21 words (``max_length`` 20, plus <end>), <pad> and <start> never
generated. The PyTorch twin is benchmarks/torch_models.py's
``FeatureCaptioner`` holding a copy of our weights, decoded by its own
batched ``greedy`` and ``beam_search``; the two must choose the same best
sentence for at least 99% of the images (a tie between two words, broken
differently by float32 rounding, may part a few).

The weights are random, and a random model never says <end>: every sentence
would run to 21 words, and beam search, which drops each image as soon as it
has its 3 sentences, would do more work than on a trained model. A constant
bias on the <end> logit does not help, since the margin <end> must cross
widens over the first words: measured, a bias of 2 ends every sentence at
once. So, as a trained model learns to count, one hidden unit is made a
clock (``add_clock``) and the <end> logit reads it, rising by about
``END_PER_WORD`` a word, and each image's sentence ends when its own margin
is crossed: measured on 250 images, greedy sentences of 10.2 words on
average, 6 to 15 for nine in ten, where Flickr8k's (``LENGTHS``) are 10.8
and 6 to 18.

Each row is the time of one call decoding all its images, with the images per
second beside it; the last row decodes one image at a time (fewer images), to
show what batching over images gains. Run alone: ``python -m benchmarks.decode``.
"""
import numpy as np
import torch

from caption.data.batching import chunks
from caption.models.captioner import Captioner
from caption.models.decoding import beam_search, greedy
from caption.training.tasks.caption import EVAL_BATCH
from nnscratch import Tensor

from . import torch_models
from .flickr8k import DROPOUT, EMBED, END, FEATURES, HIDDEN, MAX_LENGTH, PAD, START, VOCAB, batch
from .timing import Settings, compare, markdown_table

IMAGES, ALONE, BEAM = 1000, 50, 3      # the test split; images decoded one at a time
MAX_WORDS, NEVER = MAX_LENGTH + 1, (PAD, START)
CLOCK_RATE, END_PER_WORD = 0.02, 0.17  # the clock's cell grows by CLOCK_RATE a word
AGREEMENT = 0.99                       # the share of best sentences ours and the twin must share


def captioner(vocab, seed=0):
    """Our Captioner at REAL_DATA's sizes, random, in eval mode, with a clock for <end>."""
    model = Captioner(vocab, FEATURES, embed_size=EMBED, hidden_size=HIDDEN, dropout=DROPOUT,
                      rng=np.random.default_rng(seed)).eval()
    add_clock(model)
    return model


def add_clock(model, unit=0):
    """Make hidden unit ``unit`` of the LSTM count the words read, and the <end> logit
    alone read it. The unit's weights are zeroed and its gates opened by a bias of 20
    (σ = 1 in float32), its candidate a constant tanh(a_g) = CLOCK_RATE, so that after
    t words c = CLOCK_RATE·t and h = tanh(CLOCK_RATE·t) ≈ CLOCK_RATE·t; the <end>
    logit gains END_PER_WORD / CLOCK_RATE times h, about END_PER_WORD a word."""
    H, lstm = model.hidden_size, model.recurrent
    gates = unit + H * np.arange(4)              # i, f, o, g
    lstm.Wx.data[:, gates] = 0
    lstm.Wh.data[:, gates] = 0
    lstm.b.data[gates] = [20, 20, 20, np.arctanh(CLOCK_RATE)]
    model.output.W.data[unit] = 0
    model.output.W.data[unit, END] = END_PER_WORD / CLOCK_RATE


def twin_of(model):
    """The PyTorch FeatureCaptioner with ``model``'s weights: torch keeps a Linear's
    W (D, M) as its transpose, and the LSTM's gates as i, f, g, o where ours are
    i, f, o, g, with two biases (the second set to zero). A model with attention over
    precomputed regions (caption/models/precomputed.py) gives a twin with its W_q, W_k
    and region scale."""
    V, K = model.output.W.shape[1], model.image_projection.W.shape[0]
    attention = {}
    if hasattr(model, "attention"):
        attention = {"attention": model.attention.query.W.shape[1],
                     "region_size": model.encoder.region_size,
                     "region_scale": model.encoder.scale}
    twin = torch_models.FeatureCaptioner(V, K, model.embedding.W.shape[1], model.hidden_size,
                                         **attention)
    H = model.hidden_size
    to_torch_order = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
    weights = {"image_projection.weight": model.image_projection.W.data.T,
               "image_projection.bias": model.image_projection.b.data,
               "embedding.weight": model.embedding.W.data,
               "lstm.weight_ih_l0": model.recurrent.Wx.data[:, to_torch_order].T,
               "lstm.weight_hh_l0": model.recurrent.Wh.data[:, to_torch_order].T,
               "lstm.bias_ih_l0": model.recurrent.b.data[to_torch_order],
               "lstm.bias_hh_l0": np.zeros(4 * H, np.float32),
               "output.weight": model.output.W.data.T, "output.bias": model.output.b.data}
    if attention:
        weights.update({"query.weight": model.attention.query.W.data.T,
                        "key.weight": model.attention.key.W.data.T})
    twin.load_state_dict({name: torch.tensor(np.ascontiguousarray(w))
                          for name, w in weights.items()})
    return twin.eval()


def decode_ours(model, features, beam, batch_size):
    """Features (N, K), decoded ``batch_size`` images at a time (greedy when beam is 1)
    -> the best sentence of each image, a list of word ids."""
    best = []
    for rows in chunks(np.arange(len(features)), batch_size):
        images = Tensor(features[rows])
        if beam == 1:
            best += greedy(model, images, START, END, MAX_WORDS, NEVER)
        else:
            best += [hyps[0] for hyps in beam_search(model, images, START, END, beam,
                                                     MAX_WORDS, NEVER)]
    return [h.ids for h in best]


def decode_twin(twin, features, beam, batch_size):
    """``decode_ours`` by the PyTorch twin (benchmarks/torch_models.py)."""
    best = []
    for rows in chunks(np.arange(len(features)), batch_size):
        images = torch.from_numpy(features[rows])
        if beam == 1:
            words = torch_models.greedy(twin, images, START, END, MAX_WORDS, NEVER)
        else:
            words = torch_models.beam_search(twin, images, START, END, beam, MAX_WORDS,
                                             NEVER)[0][:, 0]
        best += [sentence(row) for row in words.tolist()]
    return best


def sentence(words):
    """A list of word ids cut before its first <end>."""
    return words[:words.index(END)] if END in words else words


def agreement(ours, theirs):
    """The share of images for which both chose the same sentence."""
    return float(np.mean([a == b for a, b in zip(ours, theirs)]))


def decoding_row(model, twin, features, beam, batch_size, settings, what):
    """A Row timing ours and the twin decoding all ``features`` the same way, once
    checked to choose the same sentences."""
    ours = decode_ours(model, features, beam, batch_size)
    share = agreement(ours, decode_twin(twin, features, beam, batch_size))
    assert share >= AGREEMENT, f"decode: {what}: ours and PyTorch agree on only {share:.1%}"
    case = (f"{what}, {len(features)} images, {batch_size} at a time: {share:.1%} agree, "
            f"{np.mean([len(s) for s in ours]):.1f} words")
    return compare("decode", case, lambda: decode_ours(model, features, beam, batch_size),
                   lambda: decode_twin(twin, features, beam, batch_size), settings,
                   items=len(features), item="img")


def run(settings):
    images, alone, vocab = (6, 2, 50) if settings.quick else (IMAGES, ALONE, VOCAB)
    batch_size = 4 if settings.quick else EVAL_BATCH
    features = batch(images, 1, vocab)[0]
    model = captioner(vocab)
    twin = twin_of(model)
    return [decoding_row(model, twin, features, 1, batch_size, settings, "greedy"),
            decoding_row(model, twin, features, BEAM, batch_size, settings, f"beam {BEAM}"),
            decoding_row(model, twin, features[:alone], BEAM, 1, settings, f"beam {BEAM}")]


if __name__ == "__main__":
    print(markdown_table("Decoding at Flickr8k scale", run(Settings.make(quick=False))))
