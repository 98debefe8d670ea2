"""``python -m caption.evaluate --run RUN``: score a trained run on a split and
write an HTML report to look at (thesis §5.2, §5.3).

A caption run is decoded (greedy, or beam search with ``--beam K``) and
scored as the COCO evaluation code scores it: BLEU-1..4, ROUGE-L, CIDEr-D,
METEOR with ``--meteor`` (through the official jar, when Java is here), the
perplexity of the references and, on the shapes set, the precision and recall
of the (colour, shape) pairs the captions name. A ranking run scores every
image against every sentence (S = V Sᵀ, eq. 3.6) and reports image
annotation and image search: R@1, R@5, R@10 and the median rank.

Writes, in the run folder::

    RUN/evaluation-<split>.json   the metrics (and, for captions, every image's caption)
    RUN/report.html               images, captions, references, scores, training curves
    RUN/report_images/            the images the report shows

See ``--help``.
"""
import argparse
import json
import pathlib
import sys

from nnscratch.backend import gpu_available

from .metrics import score_per_image
from .metrics.retrieval import retrieval_metrics
from .report import caption_report, ranking_report
from .run import write_json_atomic
from .train import format_metrics, load_run

NOT_ASKED = "not computed: not asked for (add --meteor)"


def parser():
    p = argparse.ArgumentParser(
        prog="python -m caption.evaluate",
        description="Score a run of python -m caption.train on a split: caption runs get "
                    "BLEU-1..4, ROUGE-L, CIDEr-D (METEOR with --meteor), perplexity and, on "
                    "shapes, attribute precision/recall; ranking runs get the retrieval "
                    "table (R@1/5/10, median rank, both directions). Prints a table, writes "
                    "RUN/evaluation-SPLIT.json and the HTML report RUN/report.html.")
    add = p.add_argument
    add("--run", required=True, metavar="RUN", help="run folder written by python -m caption.train")
    add("--split", default="test", choices=("train", "val", "test"), help="split to score (default: test)")
    add("--beam", type=int, default=1, metavar="K",
        help="beam width for caption runs; 1 (default) is greedy decoding, as in the validation "
             "log (training's metrics.json used the run's own \"beam\", 3 by default)")
    add("--meteor", action="store_true",
        help="also compute METEOR with pycocoevalcap's METEOR 1.5 jar (needs java; ~10 s to start)")
    add("--checkpoint", default="best", choices=("best", "last"), help="which checkpoint to load")
    add("--device", choices=("cpu", "gpu"), default=None, help="where to run (default: the run's own)")
    add("--sample", type=int, default=24, metavar="N", help="images shown in the report (default: 24)")
    add("--json", action="store_true", help="print the evaluation JSON instead of a table")
    return p


def check_run(path, checkpoint):
    """The run folder as a Path, or SystemExit saying what is missing."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise SystemExit(f"--run {path}: no such folder")
    config_path = path / "config.json"
    if not config_path.is_file():
        raise SystemExit(f"--run {path}: no config.json; is it a run folder written by "
                         "python -m caption.train?")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as error:
        raise SystemExit(f"--run {path}: config.json is not valid JSON ({error})")
    if not isinstance(config, dict) or config.get("task") not in ("caption", "rank"):
        raise SystemExit(f"--run {path}: config.json names no task 'caption' or 'rank'")
    if not (path / f"{checkpoint}.h5").is_file():
        raise SystemExit(f"--run {path}: no {checkpoint}.h5 checkpoint (a run writes best.h5 "
                         "and last.h5 after its first epoch; try --checkpoint last)")
    return path


def caption_alternatives(task, split, beam):
    """Per image of the split, its decoded Hypotheses, best first (one when greedy)."""
    if beam == 1:
        return [[h] for h in task.decode(split, 1)]
    return task.decode_beams(split, beam)


def evaluate_captions(task, split, beam, meteor):
    """(metrics, one record per image: imgid, filename, caption, alternatives, scores)."""
    images = task.dataset.split(split)
    alternatives = caption_alternatives(task, split, beam)
    words = [task.vocab.decode(hyps[0].ids) for hyps in alternatives]
    metrics = task.score_captions(split, words, meteor=meteor)
    if not meteor:
        metrics["METEOR"] = NOT_ASKED
    scores = score_per_image({i: image.tokens for i, image in enumerate(images)},
                             dict(enumerate(words)), tokenized=True)
    captions = [{"imgid": image.imgid, "filename": image.filename, "caption": " ".join(w),
                 "alternatives": [{"caption": " ".join(task.vocab.decode(h.ids)),
                                   "logprob": h.logprob, "score": h.score} for h in hyps],
                 "scores": scores[i]}
                for i, (image, w, hyps) in enumerate(zip(images, words, alternatives))]
    return metrics, captions


def evaluate_ranking(task, split):
    """(retrieval metrics, scores S (I, L), image_of (L,)) of a split (eq. 3.6: S = V Sᵀ)."""
    v, s, image_of = task.embed_split(split)
    scores = v @ s.T
    return retrieval_metrics(scores, image_of), scores, image_of


def retrieval_table(metrics):
    """The retrieval metrics as a text table: one row per direction."""
    columns = list(metrics["annotation"])
    lines = [f"{'':<12}" + "".join(f"{c:>13}" for c in columns)]
    for direction, values in metrics.items():
        lines.append(f"{direction:<12}" + "".join(f"{values[c]:>13.2f}" for c in columns))
    return "\n".join(lines)


def evaluate_run(path, split="test", beam=1, meteor=False, checkpoint="best", device=None,
                 sample=24):
    """Score a run, write RUN/evaluation-<split>.json and RUN/report.html; return the JSON dict."""
    path = check_run(path, checkpoint)
    try:
        task, run = load_run(path, split, checkpoint, device)
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"--run {path}: cannot load the run ({type(error).__name__}: {error})")
    images = task.dataset.split(split)
    evaluation = {"run": str(run.path), "task": task.config["task"], "split": split,
                  "checkpoint": checkpoint, "images": len(images)}
    if task.config["task"] == "caption":
        evaluation["beam"] = beam
        evaluation["metrics"], evaluation["captions"] = evaluate_captions(task, split, beam, meteor)
        report = caption_report(run.path, evaluation, images, sample)
    else:
        evaluation["metrics"], scores, image_of = evaluate_ranking(task, split)
        report = ranking_report(run.path, evaluation, images, scores, image_of, sample)
    evaluation["report"] = report.name
    write_json_atomic(run.file(f"evaluation-{split}.json"), evaluation)
    return evaluation


def main(argv=None):
    args = parser().parse_args(argv)
    if args.beam < 1:
        raise SystemExit(f"--beam must be at least 1, got {args.beam}")
    if args.sample < 0:
        raise SystemExit(f"--sample must be 0 or more, got {args.sample}")
    if args.device == "gpu" and not gpu_available():
        raise SystemExit("--device gpu: no CUDA device is usable here (cupy missing or no GPU)")
    evaluation = evaluate_run(args.run, args.split, args.beam, args.meteor, args.checkpoint,
                              args.device, args.sample)
    if args.json:
        print(json.dumps(evaluation, indent=2))
        return 0
    metrics = evaluation["metrics"]
    print(f"{evaluation['split']} split, {evaluation['images']} images, "
          f"checkpoint {evaluation['checkpoint']}"
          + (f", beam {evaluation['beam']}" if "beam" in evaluation else ""))
    print(format_metrics(metrics) if evaluation["task"] == "caption" else retrieval_table(metrics))
    run = pathlib.Path(evaluation["run"])
    print(f"metrics: {run / ('evaluation-' + evaluation['split'] + '.json')}")
    print(f"report:  {run / evaluation['report']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
