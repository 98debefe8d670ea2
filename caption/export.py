"""``python -m caption.export RUN DEST``: a trained model, ready to hand on.

DEST becomes a run folder holding only what ``caption.describe`` and
``caption.evaluate`` read: the resolved config, the vocabulary, the test
metrics (if the run finished) and ``best.h5`` with the model's parameters
alone, without the optimizer's state (a third of a training checkpoint's
size). weights/shapes-captioner is such a folder (weights/README.md).
"""
import argparse
import pathlib
import shutil
import sys

import numpy as np

from .run import RunFolder
from .train import build_model
from .data.vocab import Vocabulary


def export(run, dest, checkpoint="best"):
    """Copy the model of ``checkpoint`` in run folder ``run`` into ``dest``; returns dest's RunFolder."""
    if not (pathlib.Path(run) / "config.json").is_file():
        raise FileNotFoundError(f"{run}: no config.json; is it a run folder written by "
                                "python -m caption.train?")
    source = RunFolder(run)
    config = source.load_config()
    vocab = Vocabulary.load(source.file("vocab.json"))
    model = build_model(config, vocab, np.random.default_rng(config["seed"]))
    progress = source.load_checkpoint(checkpoint, model)
    target = RunFolder(dest)
    target.save_config(config)
    vocab.save(target.file("vocab.json"))
    if source.file("metrics.json").exists():
        shutil.copyfile(source.file("metrics.json"), target.file("metrics.json"))
    kept = {key: progress[key] for key in ("epoch", "step", "best") if key in progress}
    target.save_checkpoint("best", model, None, kept)
    return target


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m caption.export",
        description="Copy a trained model (config, vocabulary, parameters without optimizer "
                    "state) into a folder caption.describe can use.")
    p.add_argument("run", help="run folder written by python -m caption.train")
    p.add_argument("dest", help="folder to write (created if needed)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"))
    args = p.parse_args(argv)
    try:
        target = export(args.run, args.dest, args.checkpoint)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}")
    print(f"wrote {target.file('best.h5')} (parameters only), config.json, vocab.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
