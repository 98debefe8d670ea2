"""python -m caption.agreement: how far each metric agrees with people (thesis §1.3).

Kendall's τ between the metric's score of each judged caption and the human
judgments of the Flickr8k text release (Expert: τ-c; CrowdFlower: τ-b), by the
SPICE paper's protocol as CLIPScore replicates it (``caption.metrics.agreement``),
printed beside the published figures.

    python -m caption.agreement TEXT_DIR [--meteor] [--java-tokenizer] [--json OUT]
"""
import argparse
import sys
from pathlib import Path

from .data.files import check_output, write_json_atomic
from .data.flickr8k import TOKEN_FILE, read_captions
from .data.flickr8k_judgments import (CROWDFLOWER_FILE, EXPERT_FILE, read_crowdflower,
                                      read_expert)
from .data.karpathy import DatasetError
from .metrics.agreement import (METEOR_NOT_ASKED, METRICS, PUBLISHED, TAU, NothingToScore,
                                agreement)
from .metrics.ptb_java import java_tokenize
from .metrics.tokenize import tokenize
from .shell.errors import command
from .shell.paths import user_path

SETS = {"expert": "Flickr8k-Expert", "crowdflower": "Flickr8k-CrowdFlower"}


def format_table(result, skipped, tokenizer):
    """The τ ×100 of each metric and set beside the published ones, as lines of text."""
    lines = ["Kendall's tau x100 between each metric's score of a caption and the human "
             "judgments", "(SPICE paper's protocol as CLIPScore replicates it; published: "
             "Hessel et al. 2021, Table 1)", f"captions cut by {tokenizer}", ""]
    titles = [f"{title}, {TAU[name][0]}" for name, title in SETS.items()]
    sizes = [f"{result[name]['BLEU-1']['pairs']} pairs"
             + (f", {skipped[name]} skipped" if skipped[name] else "") for name in SETS]
    lines += [_row("", titles), _row("", sizes),
              _row("metric", [f"{'here':>7}{'published':>11}"] * len(SETS))]
    notes = []
    for metric in METRICS:
        cells = []
        for name in SETS:
            entry = result[name][metric]
            here = "-" if entry["tau"] is None else f"{100 * entry['tau']:.2f}"
            cells.append(f"{here:>7}{100 * PUBLISHED[name][metric]:>11.1f}")
            if entry["tau"] is None and entry["not_computed"] not in notes:
                notes.append(entry["not_computed"])
        lines.append(_row(metric, cells))
    if any(skipped.values()):
        lines.append("skipped: expert-judged candidates that are captions of their own image")
    for why in notes:
        lines.append(f"-: {why}" + (" (pass --meteor)" if why == METEOR_NOT_ASKED else ""))
    return "\n".join(lines)


def _row(label, cells):
    """One line of the table: a label, then one 28-character column per set."""
    return (f"{label:<9}" + "".join(f"{cell:<28}" for cell in cells)).rstrip()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m caption.agreement",
        description="Kendall correlation between each caption metric (BLEU-1, BLEU-4, "
                    "ROUGE-L, METEOR, CIDEr-D) and the human judgments of the Flickr8k text "
                    "release: Flickr8k-Expert (tau-c) and Flickr8k-CrowdFlower (tau-b), by "
                    "the protocol of Anderson et al. 2016 as Hessel et al. 2021 replicate it, "
                    "beside their published figures.")
    parser.add_argument("text_dir", metavar="TEXT_DIR", type=user_path,
                        help="the folder of the Flickr8k text release (Flickr8k.token.txt, "
                             "ExpertAnnotations.txt, CrowdFlowerAnnotations.txt)")
    parser.add_argument("--meteor", action="store_true",
                        help="compute METEOR too (the official jar: needs java; "
                             "about a minute and a half more)")
    parser.add_argument("--java-tokenizer", action="store_true",
                        help="cut the captions with the Java PTBTokenizer (needs java), as "
                             "CLIPScore does, instead of caption.metrics.tokenize")
    parser.add_argument("--json", metavar="OUT", type=user_path,
                        help="also write the figures to OUT: {set: {metric: {tau, pairs}}}")
    parser.add_argument("--force", action="store_true", help="replace --json OUT if it exists")
    return parser.parse_args(argv)


@command
def main(argv=None):
    args = parse_args(argv)
    if args.json:
        inputs = [Path(args.text_dir) / name
                  for name in (TOKEN_FILE, EXPERT_FILE, CROWDFLOWER_FILE)]
        check_output(args.json, "--json", inputs, args.force)
    captions = read_captions(args.text_dir)
    expert = read_expert(args.text_dir, captions)
    crowdflower = read_crowdflower(args.text_dir, captions)
    references = {image: list(by_k.values()) for image, by_k in captions.items()}
    cut, tokenizer = tokenize, "caption.metrics.tokenize (the COCO conventions, no Java)"
    if args.java_tokenizer:
        texts = sorted({raw for refs in references.values() for raw in refs})
        cut = dict(zip(texts, java_tokenize(texts))).__getitem__
        tokenizer = "the Java PTBTokenizer (stanford-corenlp 3.4.1, run as pycocoevalcap runs it)"
    try:
        result, skipped = agreement(references, expert, crowdflower, cut, args.meteor)
    except NothingToScore as error:
        judged = {"expert": EXPERT_FILE, "crowdflower": CROWDFLOWER_FILE}[error.name]
        raise DatasetError(f"{Path(args.text_dir) / judged}: {error}") from None
    print(format_table(result, skipped, tokenizer))
    if args.json:
        write_json_atomic(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
