"""``python -m caption.describe IMG [IMG ...] --run RUN``: captions for new images.

The image goes through the run's own encoder (the small CNN it trained, or
the frozen pretrained CNN its features came from), then beam search (or
greedy decoding, ``--beam 1``) writes the ``--top`` best captions with their
log-probabilities (thesis §3.7, §5.3). See caption/evaluation/new_images.py.
An image that cannot be used is skipped with the reason on stderr, the
others are still described, and the exit status is then 1.
"""
import argparse
import json
import sys

from .evaluation.new_images import caption_images
from .models.device import DEVICES, pick_device
from .shell.errors import command
from .training.build import open_model
from .training.config import RULES, ConfigError, check_value


def parser():
    p = argparse.ArgumentParser(prog="python -m caption.describe",
                                description="Describe images with a trained caption generator.")
    p.add_argument("images", nargs="+", metavar="IMG", help="image files")
    p.add_argument("--run", required=True, help="run folder written by python -m caption.train "
                                                "(or caption.export, e.g. weights/shapes-captioner)")
    p.add_argument("--beam", type=int, default=3,
                   help=f"beam width (1: greedy; {RULES['beam'].allowed()})")
    p.add_argument("--top", type=int, default=1, help="captions per image (at most --beam)")
    p.add_argument("--max-length", type=int, default=None,
                   help=f"longest caption in words (default: the run's; "
                        f"{RULES['max_length'].allowed()})")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    p.add_argument("--device", choices=DEVICES, default=None,
                   help="where to run (default: the run's own)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


@command
def main(argv=None):
    args = parser().parse_args(argv)
    check_value("beam", args.beam, f"--beam {args.beam}")
    if not 1 <= args.top <= args.beam:
        raise ConfigError(f"--top {args.top}: expected 1 to --beam ({args.beam}) captions "
                          f"per image")
    if args.max_length is not None:
        check_value("max_length", args.max_length, f"--max-length {args.max_length}")
    model, vocab, config = open_model(args.run, args.checkpoint, args.device)
    if config["task"] != "caption":
        raise ConfigError(f"--run {args.run}: a {config['task']} run; describing images needs "
                          f"a caption run (python -m caption.train --task caption)")
    device = pick_device(config["device"])
    results, skipped = caption_images(args.images, model, vocab, config, device, args.beam,
                                      args.top, args.max_length)
    if args.json:
        print(json.dumps({"captions": results, "skipped": dict(skipped)}, indent=2))
    else:
        for path, captions in results.items():
            print(path)
            for c in captions:
                print(f"  {c['caption']}   (log p = {c['logprob']:.2f})")
    for path, error in skipped:
        print(f"skipped: {error}", file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
