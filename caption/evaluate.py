"""``python -m caption.evaluate --run RUN``: score a trained run on a split and
write an HTML report to look at (thesis §5.2, §5.3).

A caption run is decoded (greedy, or beam search with ``--beam K``) and
scored as the COCO evaluation code scores it: BLEU-1..4, ROUGE-L, CIDEr-D,
METEOR with ``--meteor`` (through the official jar, when Java is here), the
perplexity of the references and, on the shapes set, the precision and recall
of the (colour, shape) pairs the captions name. A ranking run scores every
image against every sentence (S = V Sᵀ, eq. 3.6) and reports image
annotation and image search: R@1, R@5, R@10 and the median rank. What each
task computes is its own (caption/training/tasks/).

Writes, in the run folder (or ``--out``; a shipped model's evaluation goes to
``./NAME-evaluation``, never into the installed package)::

    RUN/evaluation-<split>.json   the metrics (and, for captions, every image's caption)
    RUN/report.html               images, captions, references, scores, training curves
    RUN/report_images/            the images the report shows

See ``--help``.
"""
import argparse
import json
import pathlib
import sys

from .models.device import DEVICES
from .shell.errors import command
from .shell.paths import user_path
from .shell.threads import add_threads_flag, cpu_threads
from .shipped import find_run, is_shipped
from .training.build import open_task
from .training.config import RULES, ConfigError, absolute_path, check_value
from .training.run_folder import write_json_atomic


def parser():
    p = argparse.ArgumentParser(
        prog="python -m caption.evaluate",
        description="Score a run of python -m caption.train on a split: caption runs get "
                    "BLEU-1..4, ROUGE-L, CIDEr-D (METEOR with --meteor), perplexity and, on "
                    "shapes, attribute precision/recall; ranking runs get the retrieval "
                    "table (R@1/5/10, median rank, both directions). Prints a table, writes "
                    "RUN/evaluation-SPLIT.json and the HTML report RUN/report.html.")
    add = p.add_argument
    add("--run", required=True, metavar="RUN", type=find_run,
        help="run folder written by python -m caption.train, or a shipped model "
             "(flickr8k-captioner, weights/shapes-captioner)")
    add("--out", metavar="FOLDER", type=user_path,
        help="where to write the evaluation JSON and the report (default: the run folder; for "
             "a shipped model, ./NAME-evaluation)")
    add("--split", default="test", choices=("train", "val", "test"), help="split to score (default: test)")
    add("--beam", type=int, default=1, metavar="K",
        help="beam width for caption runs; 1 (default) is greedy decoding, as in the validation "
             "log (training's metrics.json used the run's own \"beam\", 3 by default; "
             f"{RULES['beam'].allowed()})")
    add("--meteor", action="store_true",
        help="also compute METEOR with pycocoevalcap's METEOR 1.5 jar (needs java; ~10 s to start)")
    for name, what in (("data", "dataset JSON"), ("images", "image folder"),
                       ("features", "feature file")):
        add(f"--{name}", help=f"the run's {what}, where it is on this machine (default: the "
                              f"path in its config.json; a shipped model needs --data and "
                              f"--features or --images)")
    add("--checkpoint", default="best", choices=("best", "last"), help="which checkpoint to load")
    add("--device", choices=DEVICES, default=None, help="where to run (default: the run's own)")
    add("--sample", type=int, default=24, metavar="N",
        help="images shown in the report (default: 24; 0 to 1000)")
    add("--json", action="store_true", help="print the evaluation JSON instead of a table")
    add_threads_flag(p)
    return p


def evaluate_run(path, split="test", beam=1, meteor=False, checkpoint="best", device=None,
                 sample=24, paths=None, out=None, threads=None):
    """Score a run, write OUT/evaluation-<split>.json and OUT/report.html (OUT: ``out``,
    or the run folder); return the JSON dict, the task and OUT. ``paths``: where the
    run's dataset is here, if not where its config says (open_task). The scoring runs on
    ``threads`` CPU threads (None: the idle cores, chosen once the run is open and
    followed between batches)."""
    task, run = open_task(path, split, checkpoint, device, paths)
    folder = pathlib.Path(out) if out else run.path
    folder.mkdir(parents=True, exist_ok=True)
    if task.name != "caption" and (beam != 1 or meteor):
        raise ConfigError(f"--run {path}: a {task.name} run; --beam and --meteor apply to "
                          f"caption runs")
    evaluation = {"run": str(run.path.absolute()), "task": task.name, "split": split,
                  "checkpoint": checkpoint, "images": len(task.dataset.split(split))}
    with cpu_threads(threads, device or "cpu") as follow_load:
        task.between_batches = follow_load
        fields, write_report = task.evaluation(split, beam, meteor)
        evaluation.update(fields)
        report = write_report(folder, evaluation, config=task.config, log=run.read_log(),
                              sample=sample)
    evaluation["report"] = report.name
    write_json_atomic(folder / f"evaluation-{split}.json", evaluation)
    return evaluation, task, folder


@command
def main(argv=None):
    args = parser().parse_args(argv)
    check_value("beam", args.beam, f"--beam {args.beam}")
    if not 0 <= args.sample <= 1000:
        raise ConfigError(f"--sample {args.sample}: expected 0 to 1000 images")
    paths = {key: absolute_path(getattr(args, key), f"--{key}")
             for key in ("data", "images", "features") if getattr(args, key)}
    out = args.out or (f"{args.run.name}-evaluation" if is_shipped(args.run) else None)
    evaluation, task, folder = evaluate_run(args.run, args.split, args.beam, args.meteor,
                                            args.checkpoint, args.device, args.sample, paths,
                                            out, args.threads)
    if args.json:
        print(json.dumps(evaluation, indent=2))
        return 0
    print(f"{evaluation['split']} split, {evaluation['images']} images, "
          f"checkpoint {evaluation['checkpoint']}"
          + (f", beam {evaluation['beam']}" if "beam" in evaluation else ""))
    print(task.table(evaluation["metrics"]))
    print(f"metrics: {folder / ('evaluation-' + evaluation['split'] + '.json')}")
    print(f"report:  {folder / evaluation['report']} (of the {evaluation['split']} split; "
          f"each evaluation rewrites it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
