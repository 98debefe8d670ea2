"""From a checked config to what the commands work with: the dataset, the
vocabulary, the model inputs, the model and its task (caption/training/tasks/).

    task = build_task(config, vocab=None)        a new run: the vocabulary is built
    model, vocab, config = open_model(run)       a trained model, without its dataset
    task, run = open_task(run, split="test")     a trained model with the inputs of a split

Nothing here writes: the train command creates the run folder once all of
this has succeeded, so a bad dataset or feature file leaves nothing behind.
"""

import pathlib

import numpy as np

from ..data.features import RegionFeatures, region_scale
from ..data.karpathy import DatasetError, MissingImages, default_image_root, load_karpathy
from ..data.shapes import load_shapes
from ..data.vocab import SPECIALS, Vocabulary
from ..models.device import pick_device
from .inputs import split_inputs
from .run_folder import RunError, RunFolder
from .tasks import TASKS

SPLITS = ("train", "val", "test")


def load_dataset(config, splits=SPLITS, progress=True):
    """The Karpathy dataset of config["data"] (or the built-in shapes set), with ``splits``.

    Every image must be there when the model reads pixels (``--cnn small``)
    or its features must be computed; with ``--features`` no image is needed
    (those found are shown in caption.evaluate's report).
    """
    if config["data"] is None:
        dataset = load_shapes(restval_to_train=config["restval_to_train"], progress=progress)
    else:
        images = config["images"] or default_image_root(config["data"])
        try:
            dataset = load_karpathy(config["data"], images, config["restval_to_train"],
                                    images_required=not config["features"])
        except MissingImages as error:
            if config["cnn"] == "small":
                raise
            raise MissingImages(f"{error} (a pretrained CNN's precomputed --features need no "
                                f"image folder)") from None
    for split in splits:
        if not dataset.splits.get(split):
            raise DatasetError(f"{dataset.json_path}: no image in the {split!r} split; "
                               f"training needs train, val and test "
                               f"(the splits are {sorted(dataset.splits)})")
    return dataset


def build_vocabulary(config, dataset):
    """The vocabulary of the train split's words seen at least config["min_count"] times."""
    vocab = Vocabulary.build((t for image in dataset.split("train") for t in image.tokens),
                             config["min_count"])
    if len(vocab) <= len(SPECIALS):
        raise DatasetError(f"{dataset.json_path}: no word of the train split is seen "
                           f"{config['min_count']} times (--min-count); lower it")
    return vocab


def build_model(config, vocab, rng):
    """The untrained model a config describes (config["feature_size"] set by build_task)."""
    return TASKS[config["task"]].build_model(config, vocab, config["feature_size"], rng)


def build_task(config, vocab=None, splits=SPLITS, progress=True):
    """The task of a run, with the inputs of ``splits``.

    ``vocab`` None: a new run, whose vocabulary is built from the train split;
    config["feature_size"] is recorded. The device is checked first. ``progress``:
    a progress bar while the shapes set is generated or features are computed into the
    cache (and the line saying so).
    """
    device = pick_device(config["device"])
    dataset = load_dataset(config, splits, progress)
    vocab = vocab or build_vocabulary(config, dataset)
    inputs = split_inputs(config, dataset, splits, progress)
    config["feature_size"] = int(inputs[splits[0]].shape[1])
    first = inputs[splits[0]]
    if isinstance(first, RegionFeatures):
        config["region_size"] = int(first.regions.shape[2])
        if "region_scale" not in config:   # a new run: from its train split, once
            config["region_scale"] = region_scale(first.regions)
    rng = np.random.default_rng(config["seed"])
    model = device.place(build_model(config, vocab, rng))
    return TASKS[config["task"]](config, dataset, vocab, inputs, model, rng, device.move)


def load_vocabulary(run):
    """The vocabulary a run was trained with."""
    try:
        return Vocabulary.load(run.file("vocab.json"))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunError(f"{run.file('vocab.json')}: not a vocabulary written by "
                       f"python -m caption.train ({error})") from None


def open_model(path, checkpoint="best", device=None):
    """(model in eval mode, vocabulary, config) of a run folder, without its dataset.

    ``device`` overrides the device the run was trained on.
    """
    run = RunFolder.open(path)
    config = run.load_config()
    config["device"] = device or config["device"]
    place = pick_device(config["device"]).place
    vocab = load_vocabulary(run)
    model = build_model(config, vocab, np.random.default_rng(config["seed"]))
    run.load_checkpoint(checkpoint, model)
    return place(model).eval(), vocab, config


def open_task(path, split="test", checkpoint="best", device=None, paths=None):
    """(task with the inputs of ``split`` only, run folder), its model loaded from ``checkpoint``.

    ``device`` overrides the device the run was trained on; ``paths`` ({"data",
    "images", "features"}: absolute paths or None) where its dataset is on this
    machine, when not where its config.json says (a model trained elsewhere, as
    the shipped ones were).
    """
    run = RunFolder.open(path)
    config = run.load_config()
    config["device"] = device or config["device"]
    config.update({key: value for key, value in (paths or {}).items() if value is not None})
    if config["data"] is not None and not pathlib.Path(config["data"]).exists():
        raise DatasetError(f"{config['data']}: the dataset of the run {path} is not on this "
                           f"machine; say where it is with --data (and --features or --images)")
    vocab = load_vocabulary(run)
    run.check_checkpoint(checkpoint)     # before the dataset and its inputs are loaded
    task = build_task(config, vocab, splits=(split,))
    run.load_checkpoint(checkpoint, task.model)
    task.model.eval()
    return task, run
