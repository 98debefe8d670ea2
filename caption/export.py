"""``python -m caption.export RUN DEST``: a trained model, ready to hand on.

DEST becomes a run folder holding only what ``caption.describe`` and
``caption.evaluate`` read: the resolved config, the vocabulary, the test
metrics (if the run finished) and ``best.h5`` with the model's parameters
alone, without the optimizer's state (a third of a training checkpoint's
size). The dataset's paths in its config.json are cut to their file names
(``dataset_flickr8k.json``): the model is handed to other machines, where
``caption.evaluate`` is told where the dataset is (``--data``, ``--features``)
unless those names are in the current folder. caption/shipped/ holds two
such folders (weights/README.md).
DEST must not exist yet (or be an empty folder), and it is made whole or not
at all (caption/training/run_folder.py).
"""
import argparse
import json
import pathlib
import sys

import numpy as np

from .shell.errors import command
from .shell.paths import user_path
from .shipped import find_run
from .training.build import build_model, load_vocabulary
from .training.run_folder import METRICS, RunFolder, read_json


def export(run, dest, checkpoint="best", float16=False):
    """Copy the model of ``checkpoint`` in run folder ``run`` into a new run folder ``dest``;
    ``float16``: its parameters stored at half precision (half the size; read back as
    float32, each rounded to float16's 11 significant bits)."""
    source = RunFolder.open(run)
    config = source.load_config()
    vocab = load_vocabulary(source)
    model = build_model(config, vocab, np.random.default_rng(config["seed"]))
    progress = source.load_checkpoint(checkpoint, model)
    if float16:
        for parameter in model.parameters():
            parameter.data = parameter.data.astype(np.float16)
    for key in ("data", "images", "features"):   # this machine's paths mean nothing elsewhere
        if config[key] is not None:
            config[key] = pathlib.Path(config[key]).name
    files = {"config.json": json.dumps(config, indent=2), "vocab.json": vocab.to_json()}
    if checkpoint == "best" and source.file(METRICS).exists():   # the test metrics are best's
        files[METRICS] = json.dumps(read_json(source.file(METRICS)), indent=2)
    kept = {key: progress[key] for key in ("epoch", "step", "best") if key in progress}
    return RunFolder.create(dest, files,
                            fill=lambda target: target.save_checkpoint("best", model, None, kept),
                            advice="choose another DEST (a new or empty folder)")


def parser():
    p = argparse.ArgumentParser(
        prog="python -m caption.export",
        description="Copy a trained model (config, vocabulary, parameters without optimizer "
                    "state) into a new folder that caption.describe and caption.evaluate can use.")
    p.add_argument("run", type=find_run, help="run folder written by python -m caption.train")
    p.add_argument("dest", type=user_path, help="folder to create (must not exist, or be empty)")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="which checkpoint to hand on (default: best; the test metrics.json is "
                        "copied with best only, since it was measured on best)")
    p.add_argument("--float16", action="store_true",
                   help="store the parameters at half precision (half the size; check the "
                        "figures with caption.evaluate, as the shipped Flickr8k model was)")
    return p


@command
def main(argv=None):
    args = parser().parse_args(argv)
    target = export(args.run, args.dest, args.checkpoint, args.float16)
    print(f"wrote {target.file('best.h5')} (parameters only), config.json, vocab.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
