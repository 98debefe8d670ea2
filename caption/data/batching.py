"""Shuffled mini-batches of captions (thesis §3.2: mini-batch SGD).

B rows (one sentence each), T time steps (the longest sentence of the batch plus 2).
A batch is

    image_indices (B,)    int64  positions in the list of images given
    tokens        (B, T)  int64  <start> w_1 ... w_L <end> <pad> ... <pad>
    mask          (B, T)  bool   True on <start>, the words and <end>

The captioner reads ``tokens[:, :-1]`` and predicts ``tokens[:, 1:]`` where
``mask[:, 1:]`` holds. Image features are looked up by ``image_indices``.

The shuffle draws from a numpy ``Generator`` that the caller owns, so the
batches are the same for the same seed, and a resumed run that restores
``rng.bit_generator.state`` continues the same sequence.
"""
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Batch:
    image_indices: np.ndarray   # (B,) int64
    tokens: np.ndarray          # (B, T) int64
    mask: np.ndarray            # (B, T) bool


def encode_captions(images, vocab, max_length=None):
    """Every sentence of every image as ids: a list (per image) of lists of id lists.

    max_length: keep at most this many words of a sentence (None: all).
    """
    if max_length is not None and max_length < 1:
        raise ValueError(f"encode_captions: max_length must be at least 1, got {max_length}")
    return [[vocab.encode(tokens[:max_length]) for tokens in image.tokens] for image in images]


def pad_batch(sentences, vocab):
    """Id lists -> (tokens (B, T), mask (B, T)) with <start>, <end> and <pad>."""
    T = max(len(s) for s in sentences) + 2
    tokens = np.full((len(sentences), T), vocab.pad_id, dtype=np.int64)
    mask = np.zeros((len(sentences), T), dtype=bool)
    for row, ids in enumerate(sentences):
        tokens[row, :len(ids) + 2] = [vocab.start_id, *ids, vocab.end_id]
        mask[row, :len(ids) + 2] = True
    return tokens, mask


def chunks(rows, size, after_each=None):
    """``rows`` (an array) cut into consecutive pieces of at most ``size`` (one piece if
    empty), yielded in turn; ``after_each``, if given, is called once the work on each
    piece is done (an evaluation's CPU threads following the load)."""
    for piece in np.array_split(rows, max(1, math.ceil(len(rows) / size))):
        yield piece
        if after_each is not None:
            after_each()


def iterate_batches(encoded, vocab, batch_size, rng, all_sentences=False, drop_last=False):
    """One epoch of shuffled batches.

    encoded:       output of ``encode_captions`` (N images).
    all_sentences: False: one sentence per image, drawn at random each epoch
                   (N rows per epoch); True: every sentence of every image,
                   a batch holding ``batch_size`` images with all their
                   sentences, one after another (an image is then encoded once
                   per batch, and its reference sentences pull together).
    rng:           a numpy Generator; the only source of randomness.
    drop_last:     skip a last batch smaller than batch_size.
    """
    if batch_size < 1:
        raise ValueError(f"iterate_batches: batch_size must be at least 1, got {batch_size}")
    if not all_sentences:
        counts = np.array([len(sentences) for sentences in encoded])
        chosen = rng.integers(0, counts).tolist()
    order = rng.permutation(len(encoded))
    for start in range(0, len(encoded), batch_size):
        images = order[start:start + batch_size]
        if drop_last and len(images) < batch_size:
            return
        if all_sentences:
            rows = [(i, k) for i in images for k in range(len(encoded[i]))]
        else:
            rows = [(i, chosen[i]) for i in images]
        tokens, mask = pad_batch([encoded[i][k] for i, k in rows], vocab)
        yield Batch(np.array([i for i, _ in rows], dtype=np.int64), tokens, mask)
