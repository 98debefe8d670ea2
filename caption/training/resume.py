"""The one way to open a run for resuming (``caption.train --resume RUN``).

``resumable(path)`` opens the run folder, locks it for this process, and
checks, before any dataset is loaded or encoded (cheap checks before
expensive work), that the run can go on:

- its config.json and vocab.json read back;
- its ``last`` checkpoint is a file whose progress (epoch, step, generator
  state...) is whole, and whose parameters have the shapes of the run's model; a run with no ``last`` is resumable only if it was
  killed before its first one (it starts over): an exported model
  (``caption.export``, weights/shapes-captioner, whose ``best`` holds the
  parameters alone) or a finished run without ``last`` is refused;
- every line of its log.jsonl is a JSON object;
- its dataset and feature files are those it was trained on (data_digest.py).

A folder that fails any of these raises RunError, naming the file and what
is wrong, and nothing in it has changed.
"""
import contextlib
import math

import numpy as np

import nnscratch.io

from .build import build_model, load_vocabulary
from .data_digest import check_digest
from .run_folder import METRICS, RunError, RunFolder

# The progress a training checkpoint records (caption/training/loop.py, new_state), and what
# each field must be (FITS).
PROGRESS = {"epoch": "count", "step": "count", "step_in_epoch": "count", "bad_epochs": "count",
            "loss_sum": "number", "lr": "number", "rng": "object"}
FITS = {
    "count": ("a non-negative integer",
              lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "number": ("a finite number", lambda v: isinstance(v, (int, float))
               and not isinstance(v, bool) and math.isfinite(v)),
    "object": ("an object", lambda v: isinstance(v, dict)),
}


@contextlib.contextmanager
def resumable(path, config):
    """The RunFolder ``path``, locked and checked resumable for the run ``config`` (its
    config.json, as resolved); RunError, with nothing changed, if it is not."""
    run = RunFolder.open(path)
    with run.lock():
        vocab = load_vocabulary(run)
        check_last(run, config, vocab)
        run.read_log()       # every line a record
        check_digest(run, config)
        yield run


def check_last(run, config, vocab):
    """RunError unless ``last`` is a whole training checkpoint of the run's model, or the
    run was killed before it wrote its first one (then it starts over)."""
    path = run.file("last.h5")
    if path.exists() or path.is_symlink():
        run.check_checkpoint("last")
        check_progress(path, nnscratch.io.load_metadata(path)["progress"])
        check_shapes(path, build_model(config, vocab, np.random.default_rng(0)))
    elif run.file(METRICS).exists() or not best_is_a_training_checkpoint(run):
        raise RunError(f"{path}: missing, so the run cannot be resumed (an exported model, "
                       f"or a run whose last checkpoint was removed); to train again, start "
                       f"a new run with --config {run.file('config.json')} --out NEW_FOLDER")


def check_shapes(path, model):
    """RunError unless the checkpoint ``path`` declares every parameter of ``model`` with
    its shape (read from the file's headers: no array is read)."""
    declared = nnscratch.io.inspect(path)
    for key, parameter in model.state_dict().items():
        shape = declared.get(f"model/{key}", (None,))[0]
        if shape != tuple(parameter.shape):
            found = "missing" if shape is None else f"of shape {shape}"
            raise RunError(f"{path}: parameter {key!r} is {found}, the run's model has "
                           f"{tuple(parameter.shape)} (config.json or vocab.json changed, or "
                           f"the checkpoint is another run's)")


def best_is_a_training_checkpoint(run):
    """Whether ``best`` is missing or a training checkpoint (with the progress to go on
    from), not an exported model's parameters alone."""
    if not run.has_checkpoint("best"):
        return True
    run.check_checkpoint("best")
    try:
        check_progress(run.file("best.h5"), nnscratch.io.load_metadata(run.file("best.h5"))
                       ["progress"])
    except RunError:
        return False
    return True


def check_progress(path, progress):
    """RunError unless ``progress`` (a checkpoint's) holds every field of PROGRESS as FITS
    says, a positive learning rate, and a generator state NumPy accepts."""
    if not isinstance(progress, dict):
        raise RunError(f"{path}: the progress in its metadata is not an object; "
                       f"the checkpoint is damaged")
    for key, kind in PROGRESS.items():
        wanted, fits = FITS[kind]
        if not fits(progress.get(key)):
            raise RunError(f"{path}: progress field {key!r} is {progress.get(key)!r}, "
                           f"expected {wanted}; the checkpoint is damaged")
    if progress["lr"] <= 0:
        raise RunError(f"{path}: progress field 'lr' is {progress['lr']!r}, expected a "
                       f"positive number; the checkpoint is damaged")
    if progress["step_in_epoch"] > progress["step"]:
        raise RunError(f"{path}: progress field 'step_in_epoch' ({progress['step_in_epoch']}) "
                       f"exceeds 'step' ({progress['step']}); the checkpoint is damaged")
    best = progress.get("best")
    if best is not None and not FITS["number"][1](best):
        raise RunError(f"{path}: progress field 'best' is {best!r}, expected a finite number "
                       f"or null; the checkpoint is damaged")
    try:
        np.random.default_rng().bit_generator.state = progress["rng"]
    except (TypeError, ValueError, KeyError) as error:
        raise RunError(f"{path}: progress field 'rng' is not a generator state "
                       f"({error}); the checkpoint is damaged") from None
