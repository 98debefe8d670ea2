"""Captions for new images with a trained caption generator (thesis §3.7, §5.3).

The image goes through the run's own encoder (the small CNN it trained, or
the frozen pretrained CNN its features came from, with its regions for a
model with attention), then beam search (or
greedy decoding, beam 1) gives the ``top`` best captions with their
log-probabilities. Large photos are decoded at reduced size
(caption/cnn/preprocess.py), and an image that cannot be used is skipped with
the reason, not fatal.

``attention_map`` draws where the model looked for each word of its best
caption (a run with attention). A model knows only what it was trained on:
``unfamiliar`` tells when an image is plainly not of the kind a
shapes-trained model has seen, and ``caption.describe`` then says so
(SHAPES_ONLY) beside the caption.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nnscratch import Tensor

from ..cnn.preprocess import ImageError, image_to_array, load_image, resize_and_crop
from ..models.decoding import beam_search
from ..models.small_cnn import SIDE, pixels_to_float
from ..training.config import ConfigError
from .attention_maps import attention_steps, draw_attention

SHAPES_ONLY = (
    f"this model was trained only on the built-in shapes set ({SIDE}x{SIDE} synthetic pictures "
    f"of coloured circles, squares and triangles): its caption can only name such shapes and "
    f"says nothing reliable about a photo. To describe photos, leave out --run: python -m "
    f"caption.describe photo.jpg uses the shipped Flickr8k captioner; or train on a real "
    f"caption dataset (Karpathy's JSON): python -m caption.features --data dataset.json "
    f"--images DIR --out feats.h5, then python -m caption.train --data dataset.json "
    f"--features feats.h5")


@dataclass
class Decoded:
    """One image decoded: its file, the model's input (pixels (1, 3, S, S), features
    (1, K), or features and regions), the pixels the encoder saw (S, S, 3) uint8, and
    the Hypotheses of beam search, best first (caption/models/decoding.py)."""
    path: str
    image: object
    pixels: np.ndarray
    hypotheses: list


def image_encoder(config):
    """A function: image path -> (the model's input as arrays, the pixels (S, S, 3) that
    the encoder saw): the small CNN's pixels (1, 3, S, S), or a pretrained CNN's
    features (1, K) and, for a model with attention, its regions (1, L, C) beside them."""
    if config["cnn"] == "small":
        def small(path):
            rgb = np.asarray(load_image(path, at_least=SIDE).resize((SIDE, SIDE)))
            return pixels_to_float(rgb.transpose(2, 0, 1)[None]), rgb
        return small
    if config["cnn"] is None:
        raise ConfigError(f"the run was trained on features of a CNN the project does not "
                          f"have ({config['features']}), so it cannot encode new images; "
                          f"caption.evaluate works on its feature file")
    from ..cnn import build   # the pretrained CNN loads only when needed
    from ..cnn.extract import vectors_and_regions
    net = build(config["cnn"])

    def pretrained(path):
        photo = resize_and_crop(load_image(path), net.preprocessing.input_size)
        vectors, regions = vectors_and_regions(
            net, Tensor(image_to_array(photo, net.preprocessing)[None]), config["attention"])
        inputs = vectors if regions is None else (vectors, regions.astype(np.float32))
        return inputs, np.asarray(photo)
    return pretrained


def as_tensors(arrays, device):
    """The model's input arrays (one, or a tuple) as Tensors on ``device``."""
    if isinstance(arrays, tuple):
        return tuple(Tensor(device.move(a)) for a in arrays)
    return Tensor(device.move(arrays))


def decode_images(paths, model, vocab, config, device, beam=3, max_length=None):
    """([Decoded, ...], [(path, why it was skipped)]) for image files.

    ``model``, ``vocab``, ``config``: a trained run (caption/training/build.py
    ``open_model``); ``device``: where the model is (caption/models/device.py).
    """
    max_len = (max_length or config["max_length"]) + 1
    encode = image_encoder(config)
    decoded, skipped = [], []
    for path in paths:
        try:
            arrays, pixels = encode(path)
        except ImageError as error:
            skipped.append((path, str(error)))
            continue
        x = as_tensors(arrays, device)
        (hyps,) = beam_search(model, x, vocab.start_id, vocab.end_id, beam, max_len,
                              never=vocab.unsaid_ids, length_alpha=config["length_alpha"])
        decoded.append(Decoded(path, x, pixels, hyps))
    return decoded, skipped


def caption_records(decoded, vocab, top=1):
    """{path: [{"caption", "logprob", "score"}, ...]}: the ``top`` best captions of each image."""
    return {d.path: [{"caption": " ".join(vocab.decode(h.ids)), "logprob": h.logprob,
                      "score": h.score} for h in d.hypotheses[:top]]
            for d in decoded}


def caption_images(paths, model, vocab, config, device, beam=3, top=1, max_length=None):
    """({path: [{"caption", "logprob", "score"}, ...]}, [(path, why it was skipped)])."""
    decoded, skipped = decode_images(paths, model, vocab, config, device, max(beam, top),
                                     max_length)
    return caption_records(decoded, vocab, top), skipped


def attention_map(decoded, model, vocab, path):
    """Draw the attention of each image's best caption, word by word, into one PNG ``path``
    (a row per image; caption/evaluation/attention_maps.py). Returns ``path``."""
    rows = []
    for d in decoded:
        best = d.hypotheses[0]
        ended = best.length > len(best.ids)          # <end> was scored after the last word
        steps = attention_steps(model, vocab, d.image, best.ids, ended)
        rows.append((f"{Path(d.path).name}: {' '.join(vocab.decode(best.ids))}",
                     d.pixels, steps))
    return draw_attention(rows, path)


def unfamiliar(path, config):
    """Why an image is plainly not of the kind the model was trained on, or None.

    The rule, kept simple on purpose: the run was trained on the built-in
    shapes set (config["data"] is None) and the image is not SIDE × SIDE
    pixels, the size of every shapes picture. A photo of any usual size is
    caught; a picture shrunk to 64 × 64 beforehand is not.
    """
    if config["data"] is not None:
        return None
    with Image.open(path) as image:
        width, height = image.size
    if (width, height) == (SIDE, SIDE):
        return None
    return (f"{path} is {width}x{height} pixels, not a {SIDE}x{SIDE} picture like those of "
            f"the built-in shapes set")
