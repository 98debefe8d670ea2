"""Captions for new images with a trained caption generator (thesis §3.7, §5.3).

The image goes through the run's own encoder (the small CNN it trained, or
the frozen pretrained CNN its features came from), then beam search (or
greedy decoding, beam 1) gives the ``top`` best captions with their
log-probabilities. Large photos are decoded at reduced size
(caption/cnn/preprocess.py), and an image that cannot be used is skipped with
the reason, not fatal.
"""
import numpy as np

from nnscratch import Tensor, no_grad

from ..cnn.preprocess import ImageError, load_image
from ..models.decoding import beam_search
from ..models.small_cnn import SIDE, pixels_to_float


def image_encoder(config):
    """A function: image path -> the model's input, pixels (1, 3, S, S) or CNN features (1, K)."""
    if config["cnn"] == "small":
        def pixels(path):
            rgb = load_image(path, at_least=SIDE).resize((SIDE, SIDE))
            return pixels_to_float(np.asarray(rgb).transpose(2, 0, 1)[None])
        return pixels
    from ..cnn import build, preprocess   # the pretrained CNN loads only when needed
    net = build(config["cnn"])

    def features(path):
        with no_grad():
            return net.features(Tensor(preprocess([path], net))).data
    return features


def caption_images(paths, model, vocab, config, device, beam=3, top=1, max_length=None):
    """({path: [{"caption", "logprob", "score"}, ...]}, [(path, why it was skipped)]).

    ``model``, ``vocab``, ``config``: a trained run (caption/training/build.py
    ``open_model``); ``device``: where the model is (caption/models/device.py).
    """
    max_len = (max_length or config["max_length"]) + 1
    encode = image_encoder(config)
    results, skipped = {}, []
    for path in paths:
        try:
            x = Tensor(device.move(encode(path)))
        except ImageError as error:
            skipped.append((path, str(error)))
            continue
        (hyps,) = beam_search(model, x, vocab.start_id, vocab.end_id, max(beam, top), max_len,
                              never=(vocab.pad_id, vocab.start_id))
        results[path] = [{"caption": " ".join(vocab.decode(h.ids)), "logprob": h.logprob,
                          "score": h.score} for h in hyps[:top]]
    return results, skipped
