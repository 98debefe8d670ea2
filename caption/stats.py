"""python -m caption.stats: what a caption dataset holds (thesis §1.2, §3.3).

Images and sentences per split; sentence length in tokens (mean, median,
max: the mean length the thesis leaves as a TODO in §1.2); the vocabulary
size at several count thresholds, counted on the train split, as the model's
vocabulary is (§3.6.2); how many test tokens that vocabulary covers at
min_count 5 (the rest become <unk>); and a histogram of sentence lengths.

    python -m caption.stats                           # the built-in shapes set
    python -m caption.stats dataset_flickr8k.json --json
"""
import argparse
import json
import sys
from collections import Counter

import numpy as np

from .data.karpathy import load_karpathy
from .data.vocab import Vocabulary
from .shell.errors import command
from .shell.paths import user_path

THRESHOLDS = (1, 2, 3, 5, 10)
COVERAGE_MIN_COUNT = 5
BAR_WIDTH = 50


def length_summary(lengths):
    """Mean, median and max of a list of sentence lengths (None when empty)."""
    if not lengths:
        return {"mean_length": None, "median_length": None, "max_length": None}
    return {"mean_length": float(np.mean(lengths)), "median_length": float(np.median(lengths)),
            "max_length": int(max(lengths))}


def split_summary(images):
    """Counts and lengths of a list of karpathy.Image."""
    lengths = [len(tokens) for image in images for tokens in image.tokens]
    return {"images": len(images), "sentences": len(lengths), **length_summary(lengths)}


def vocabulary_summary(train_images, test_images):
    """Vocabulary sizes at THRESHOLDS and the test split's coverage."""
    train_words = [w for image in train_images for tokens in image.tokens for w in tokens]
    counts = Counter(train_words)
    sizes = {str(t): sum(1 for c in counts.values() if c >= t) for t in THRESHOLDS}
    vocab = Vocabulary.build([train_words], COVERAGE_MIN_COUNT)
    test_words = [w for image in test_images for tokens in image.tokens for w in tokens]
    covered = sum(1 for w in test_words if w in vocab)
    coverage = {"min_count": COVERAGE_MIN_COUNT, "test_tokens": len(test_words),
                "covered": covered / len(test_words) if test_words else None,
                "unknown_types": len({w for w in test_words if w not in vocab})}
    return {"vocabulary_sizes": sizes, "test_coverage": coverage}


def dataset_stats(dataset):
    """Everything ``python -m caption.stats`` reports, as a JSON-ready dict."""
    lengths = Counter(len(tokens) for image in dataset.images for tokens in image.tokens)
    shortest, longest = min(lengths, default=0), max(lengths, default=-1)
    train = dataset.splits.get("train", dataset.images)
    return {"dataset": str(dataset.json_path),
            "splits": {name: split_summary(images) for name, images in dataset.splits.items()},
            "all": split_summary(dataset.images),
            "vocabulary_counted_on": "train" if "train" in dataset.splits else "all",
            **vocabulary_summary(train, dataset.splits.get("test", [])),
            "length_histogram": {str(n): lengths[n] for n in range(shortest, longest + 1)}}


def format_text(stats):
    """The report as lines of text."""
    lines = [f"dataset {stats['dataset']}", "",
             f"{'split':<8}{'images':>8}{'sentences':>11}{'mean':>7}{'median':>8}{'max':>5}"]
    for name, s in [*stats["splits"].items(), ("all", stats["all"])]:
        mean = _cell(s["mean_length"], ".2f")
        median, longest = _cell(s["median_length"], "g"), _cell(s["max_length"], "d")
        lines.append(f"{name:<8}{s['images']:>8}{s['sentences']:>11}"
                     f"{mean:>7}{median:>8}{longest:>5}")
    sizes = ", ".join(f">={t}: {n}" for t, n in stats["vocabulary_sizes"].items())
    lines += ["", f"vocabulary size on {stats['vocabulary_counted_on']} "
                  f"(words seen n times) {sizes}"]
    cov = stats["test_coverage"]
    if cov["covered"] is not None:
        lines.append(f"test tokens covered by the min_count {cov['min_count']} vocabulary: "
                     f"{100 * cov['covered']:.2f}% of {cov['test_tokens']} "
                     f"({cov['unknown_types']} unknown word types)")
    lines += ["", "sentence length (tokens): number of sentences"]
    peak = max(stats["length_histogram"].values(), default=1)
    for length, n in stats["length_histogram"].items():
        lines.append(f"{length:>4} {n:>8} {'#' * round(BAR_WIDTH * n / peak)}")
    return "\n".join(lines)


def _cell(value, spec):
    return "-" if value is None else format(value, spec)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m caption.stats",
        description="Statistics of a caption dataset in Karpathy's split JSON: images and "
                    "sentences per split, sentence length in tokens, vocabulary size at "
                    f"thresholds {', '.join(map(str, THRESHOLDS))} (train split), coverage "
                    "of the test split by the min_count 5 vocabulary, a length histogram.")
    parser.add_argument("dataset", nargs="?", type=user_path,
                        help="dataset JSON (dataset_flickr8k.json, ...); default: the built-in "
                             "shapes set, generated into the cache on first use")
    parser.add_argument("--images", metavar="DIR", type=user_path,
                        help="image folder; when given, every listed image must exist in it")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--restval-to-train", action="store_true",
                        help="count COCO's restval images as train")
    return parser.parse_args(argv)


@command
def main(argv=None):
    args = parse_args(argv)
    if args.dataset is None:
        from .data.shapes import load_shapes   # draws images only if not cached
        dataset = load_shapes(restval_to_train=args.restval_to_train)
    else:
        dataset = load_karpathy(args.dataset, args.images, args.restval_to_train)
    stats = dataset_stats(dataset)
    print(json.dumps(stats, indent=1) if args.json else format_text(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
