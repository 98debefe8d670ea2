"""``python -m caption.describe IMG [IMG ...] --run RUN``: captions for new images.

The image goes through the run's own encoder (the small CNN it trained, or
the frozen pretrained CNN its features came from), then beam search (or
greedy decoding, ``--beam 1``) writes the ``--top`` best captions with their
log-probabilities (thesis §3.7, §5.3).
"""
import argparse
import json
import sys

import numpy as np

from nnscratch import Tensor, no_grad
from nnscratch.backend import GPUUnavailable, to_gpu

from .cnn.preprocess import ImageError, load_image
from .decode import beam_search
from .inputs import SMALL_CNN_SIDE, pixels_to_float
from .train import load_model


def parser():
    p = argparse.ArgumentParser(prog="python -m caption.describe",
                                description="Describe images with a trained caption generator.")
    p.add_argument("images", nargs="+", metavar="IMG", help="image files")
    p.add_argument("--run", required=True, help="run folder written by python -m caption.train")
    p.add_argument("--beam", type=int, default=3, help="beam width (1: greedy)")
    p.add_argument("--top", type=int, default=1, help="captions per image (at most --beam)")
    p.add_argument("--max-length", type=int, default=None, help="longest caption in words")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--device", choices=("cpu", "gpu"), default=None)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def image_encoder(config):
    """A function: image path -> the model's input, pixels (1, 3, S, S) or CNN features (1, K)."""
    if config["cnn"] == "small":
        def pixels(path):
            rgb = load_image(path).resize((SMALL_CNN_SIDE, SMALL_CNN_SIDE))
            return pixels_to_float(np.asarray(rgb).transpose(2, 0, 1)[None])
        return pixels
    from .cnn import build, preprocess
    net = build(config["cnn"])

    def features(path):
        with no_grad():
            return net.features(Tensor(preprocess([load_image(path)], net))).data
    return features


def describe(paths, run, beam=3, top=1, max_length=None, checkpoint="best", device=None):
    """{path: [{"caption", "logprob", "score"}, ...]} and the list of (path, error) skipped."""
    model, vocab, config = load_model(run, checkpoint, device)
    move = to_gpu if config["device"] == "gpu" else np.asarray
    max_len = (max_length or config["max_length"]) + 1
    encode = image_encoder(config)
    results, skipped = {}, []
    for path in paths:
        try:
            x = Tensor(move(encode(path)))
        except ImageError as error:
            skipped.append((path, str(error)))
            continue
        hyps = beam_search(model, x, vocab.start_id, vocab.end_id, max(beam, top), max_len,
                           never=(vocab.pad_id, vocab.start_id))
        results[path] = [{"caption": " ".join(vocab.decode(h.ids)), "logprob": h.logprob,
                          "score": h.score} for h in hyps[:top]]
    return results, skipped


def main(argv=None):
    args = parser().parse_args(argv)
    if args.beam < 1 or args.top < 1:
        raise SystemExit("--beam and --top must be at least 1")
    try:
        results, skipped = describe(args.images, args.run, args.beam, args.top, args.max_length,
                                    args.checkpoint, args.device)
    except GPUUnavailable as error:
        raise SystemExit(f"error: {error}")
    if args.json:
        print(json.dumps({"captions": results, "skipped": dict(skipped)}, indent=2))
    else:
        for path, captions in results.items():
            print(path)
            for c in captions:
                print(f"  {c['caption']}   (log p = {c['logprob']:.2f})")
    for path, error in skipped:
        print(f"skipped: {error}", file=sys.stderr)
    return 1 if skipped and not results else 0


if __name__ == "__main__":
    sys.exit(main())
