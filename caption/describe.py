"""``python -m caption.describe IMG [IMG ...] [--run RUN]``: captions for new images,
by default with the shipped Flickr8k captioner (caption/shipped/).

The image goes through the run's own encoder (the small CNN it trained, or
the frozen pretrained CNN its features came from), then beam search (or
greedy decoding, ``--beam 1``) writes the ``--top`` best captions with their
log-probabilities (thesis §3.7, §5.3). See caption/evaluation/new_images.py.
An image that cannot be used is skipped with the reason on stderr, the
others are still described, and the exit status is then 1.

``--attention-map OUT.png`` draws, for each word of the best caption, where
the model looked (a run with attention: ``--attention N``).
A model trained on the built-in shapes set, shown a photo, says so on
stderr beside its caption.
"""
import argparse
import json
import sys
from pathlib import Path

from .data.files import check_output
from .evaluation.attention_maps import SUFFIXES
from .evaluation.new_images import (SHAPES_ONLY, attention_map, caption_records, decode_images,
                                    unfamiliar)
from .models.device import DEVICES, pick_device
from .shell.errors import command
from .shell.paths import user_path
from .shipped import DEFAULT_CAPTIONER, find_run
from .training.build import open_model
from .training.config import RULES, ConfigError, check_value


def parser():
    p = argparse.ArgumentParser(prog="python -m caption.describe",
                                description="Describe images with a trained caption generator: "
                                            "by default the shipped Flickr8k captioner, for "
                                            "any photo (JPEG, PNG, any size).")
    p.add_argument("images", nargs="+", metavar="IMG", type=user_path, help="image files")
    p.add_argument("--run", type=find_run, default=find_run(DEFAULT_CAPTIONER),
                   help=f"run folder written by python -m caption.train or caption.export, or a "
                        f"shipped model: {DEFAULT_CAPTIONER} (the default: people, dogs and "
                        f"outdoor scenes, learnt from Flickr8k's photos) or "
                        f"weights/shapes-captioner (the built-in shapes set)")
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
    p.add_argument("--attention-map", metavar="OUT.png", type=user_path,
                   help="draw, for each word of the best caption, the attention over the CNN's "
                        "regions (14x14 over a photo, 8x8 for the shapes model) on the image, "
                        "into one PNG (a row per image); needs a run with attention")
    p.add_argument("--force", action="store_true", help="replace --attention-map if it exists")
    return p


def check_attention_map(run, config):
    """ConfigError unless the run's model has attention over image regions to draw."""
    if not config["attention"]:
        raise ConfigError(f"--attention-map: the run {run} has no attention (it was trained "
                          f"with --attention 0), so it looks at no region; train one with "
                          f"--attention N")


@command
def main(argv=None):
    args = parser().parse_args(argv)
    check_value("beam", args.beam, f"--beam {args.beam}")
    if not 1 <= args.top <= args.beam:
        raise ConfigError(f"--top {args.top}: expected 1 to --beam ({args.beam}) captions "
                          f"per image")
    if args.max_length is not None:
        check_value("max_length", args.max_length, f"--max-length {args.max_length}")
    if args.attention_map:   # never over an input; the run's files are inputs too
        run_files = list(Path(args.run).glob("*")) if Path(args.run).is_dir() else []
        check_output(args.attention_map, "--attention-map", [*args.images, *run_files],
                     args.force, suffixes=SUFFIXES)
    model, vocab, config = open_model(args.run, args.checkpoint, args.device)
    if config["task"] != "caption":
        raise ConfigError(f"--run {args.run}: a {config['task']} run; describing images needs "
                          f"a caption run (python -m caption.train --task caption)")
    if args.attention_map:
        check_attention_map(args.run, config)
    device = pick_device(config["device"])
    decoded, skipped = decode_images(args.images, model, vocab, config, device, args.beam,
                                     args.max_length)
    results = caption_records(decoded, vocab, args.top)
    if args.json:
        print(json.dumps({"captions": results, "skipped": dict(skipped)}, indent=2))
    else:
        for path, captions in results.items():
            print(path)
            for c in captions:   # best first by score (caption/models/decoding.py)
                print(f"  {c['caption']}   (score {c['score']:.2f}, log p {c['logprob']:.2f})")
    for path, error in skipped:
        print(f"skipped: {error}", file=sys.stderr)
    notes = [note for note in (unfamiliar(path, config) for path in results) if note]
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if notes:
        print(f"note: {SHAPES_ONLY}", file=sys.stderr)
    if args.attention_map and decoded:
        print(f"attention map: {attention_map(decoded, model, vocab, args.attention_map)}",
              file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
