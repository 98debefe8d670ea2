"""Baselines a trained caption generator must beat.

The best single fixed caption: one sentence, chosen on the training split,
given to every test image. It is the most CIDEr-D-scoring of the most
frequent training captions, scored on a sample of training images. A model
that has learned nothing about the image can at best find this sentence.
"""
from collections import Counter

import numpy as np

from ..metrics import cider_d, score

CANDIDATES = 30      # most frequent training captions tried
SAMPLE = 100         # training images the choice is scored on


def best_constant_caption(train_images, seed=0):
    """The training caption (a token list) with the best CIDEr-D as a constant answer."""
    counts = Counter(tuple(t) for image in train_images for t in image.tokens)
    candidates = [list(c) for c, _ in counts.most_common(CANDIDATES)]
    rows = np.random.default_rng(seed).permutation(len(train_images))[:SAMPLE]
    references = [train_images[r].tokens for r in rows]
    return max(candidates, key=lambda caption: cider_d(references, [caption] * len(rows))[0])


def constant_caption_scores(train_images, test_images):
    """{"caption": the chosen sentence, and its test-split metrics}."""
    caption = best_constant_caption(train_images)
    metrics = score({i: image.tokens for i, image in enumerate(test_images)},
                    {i: caption for i in range(len(test_images))}, tokenized=True)
    return {"caption": " ".join(caption), **metrics}
