"""``python -m caption.train``: train the caption generator (thesis §3.7) or the
image–sentence ranking model (eq. 3.3–3.6), then score the best checkpoint
on the test split. With no arguments it trains the LSTM captioner on the
built-in shapes set (generated on first use). See ``--help``.
"""
import pathlib
import sys

import numpy as np

from nnscratch import optim
from nnscratch.backend import GPUUnavailable, require_gpu, to_gpu

from .config import parser, resolve
from .data.karpathy import load_karpathy
from .data.shapes import load_shapes
from .data.vocab import Vocabulary
from .inputs import split_inputs
from .run import RunFolder
from .trainer import NonFiniteLoss, train

OPTIMIZERS = {
    "sgd": lambda params, c: optim.SGD(params, c["lr"], weight_decay=c["weight_decay"]),
    "momentum": lambda params, c: optim.SGD(params, c["lr"], momentum=c["momentum"],
                                            weight_decay=c["weight_decay"]),
    "adam": lambda params, c: optim.Adam(params, c["lr"], weight_decay=c["weight_decay"]),
    "rmsprop": lambda params, c: optim.RMSprop(params, c["lr"], weight_decay=c["weight_decay"]),
}


def load_dataset(config):
    """The Karpathy dataset of ``--data``, or the built-in shapes set."""
    if config["data"] is None:
        return load_shapes(restval_to_train=config["restval_to_train"])
    images = config["images"]
    if images is None:  # beside the JSON: its folder, or an images/ folder there
        beside = pathlib.Path(config["data"]).parent
        images = beside / "images" if (beside / "images").is_dir() else beside
    return load_karpathy(config["data"], images, config["restval_to_train"])


def build_model(config, vocab, rng):
    """The model a resolved config describes (config["feature_size"] is set by build_task)."""
    if config["task"] == "caption":
        from .tasks.captioning import build_captioner
        return build_captioner(config, vocab, config["feature_size"], rng)
    from .tasks.ranking import build_ranker
    return build_ranker(config, vocab, config["feature_size"], rng)


def build_task(config, run, resume, splits=("train", "val", "test")):
    """Dataset, vocabulary, inputs and model of a run, as a trainer task.

    On a new run this builds and saves the vocabulary and records the image
    feature size in ``config``; resuming, it reads the vocabulary back.
    """
    dataset = load_dataset(config)
    if resume:
        vocab = Vocabulary.load(run.file("vocab.json"))
    else:
        vocab = Vocabulary.build((t for image in dataset.split("train") for t in image.tokens),
                                 config["min_count"])
        vocab.save(run.file("vocab.json"))
    inputs = split_inputs(config, dataset, splits)
    config["feature_size"] = int(inputs[splits[0]].shape[1])
    rng = np.random.default_rng(config["seed"])
    model = build_model(config, vocab, rng)
    gpu = config["device"] == "gpu"
    if gpu:
        model.to_gpu()
    if config["task"] == "caption":
        from .tasks.captioning import CaptionTask as Task
    else:
        from .tasks.ranking import RankTask as Task
    return Task(config, dataset, vocab, inputs, model, rng, to_gpu if gpu else np.asarray)


def load_model(path, checkpoint="best", device=None):
    """(model in eval mode, vocabulary, config) of a run folder, without its dataset."""
    run = RunFolder(path)
    config = run.load_config()
    if device is not None:
        config["device"] = device
    vocab = Vocabulary.load(run.file("vocab.json"))
    model = build_model(config, vocab, np.random.default_rng(config["seed"]))
    if config["device"] == "gpu":
        require_gpu()
        model.to_gpu()
    run.load_checkpoint(checkpoint, model)
    model.eval()
    return model, vocab, config


def load_run(path, split="test", checkpoint="best", device=None):
    """(task with the inputs of ``split`` only, run folder), its model loaded from ``checkpoint``.

    Used by ``caption.evaluate``; ``device`` overrides the device the run was trained on.
    """
    run = RunFolder(path)
    config = run.load_config()
    if device is not None:
        config["device"] = device
        if device == "gpu":
            require_gpu()
    task = build_task(config, run, resume=True, splits=(split,))
    run.load_checkpoint(checkpoint, task.model)
    task.model.eval()
    return task, run


def main(argv=None):
    args = parser().parse_args(argv)
    config, out = resolve(args)
    if config["device"] == "gpu":
        try:
            require_gpu()
        except GPUUnavailable as error:
            raise SystemExit(f"error: {error}")
    run = RunFolder(out)
    resume = bool(args.resume)
    task = build_task(config, run, resume)
    if not resume:
        run.save_config(config)
    optimizer = OPTIMIZERS[config["optimizer"]](task.model.parameters(), config)
    print(f"run folder: {run.path}", flush=True)
    try:
        state = train(task, optimizer, run, config, resume=resume, progress=not args.quiet)
    except KeyboardInterrupt:
        return 130
    except NonFiniteLoss as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not state["completed"]:
        print(f"stopped after {state['step']} steps (--max-steps); "
              f"continue with: python -m caption.train --resume {run.path}")
        return 0
    run.load_checkpoint("best", task.model)
    metrics = task.final_metrics()
    run.write_metrics(metrics)
    print(f"test split ({run.file('metrics.json')}):")
    print(format_metrics(metrics))
    return 0


def format_metrics(metrics, indent=""):
    """Nested metric dicts as aligned text lines."""
    lines = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(format_metrics(value, indent + "  "))
        elif isinstance(value, float):
            lines.append(f"{indent}{key:<22}{value:.4f}")
        else:
            lines.append(f"{indent}{key:<22}{value}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
