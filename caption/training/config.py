"""The configuration of a training run, checked at the entrance.

A setting comes from the task's defaults (those tuned on the shapes set, or
for a ``--data`` JSON that is not a shapes set, those of ``REAL_DATA``), then a
``--config`` JSON file, then a command-line flag, each overriding the one
before. Before any work,
``resolve`` checks every value (its type, its range or choices), refuses
settings that belong to the other task and combinations that cannot work,
and turns the paths into absolute ones. A mistake is one ``ConfigError``
naming where the value came from (the flag, or the key of the file), the
value, and what is allowed. The resolved configuration is saved in the run
folder, so that ``--resume RUN`` and ``caption.evaluate`` rebuild exactly the
same model from any working directory.
"""
import argparse
import json
import math
import os
import pathlib
import time
from dataclasses import dataclass

from ..data.features import has_regions
from ..data.files import read_json
from ..data.karpathy import dataset_name
from ..models.captioner import ATTENTION_QUERIES, CONDITIONS
from ..models.ranker import SCORES
from ..models.device import DEVICES

TASKS = ("caption", "rank")

COMMON = {
    "data": None,             # Karpathy JSON; None: the built-in shapes set
    "images": None,           # image root (default: beside the JSON)
    "features": None,         # precomputed features (HDF5 of caption.features, or vgg_feats.mat)
    "restval_to_train": True,
    "min_count": 5,
    "epochs": 12,
    "batch_size": 32,
    "optimizer": "adam",
    "lr": 2e-3,
    "lr_decay": 1.0,          # multiply lr by this after every epoch (lr_schedule "step")
    "lr_schedule": "step",    # "step": lr_decay per epoch; "cosine": from lr down to 0, step by step
    "momentum": 0.9,          # for --optimizer momentum
    "weight_decay": 0.0,      # the λ of λ‖θ‖² (eq. 3.6) is weight_decay / 2
    "grad_clip": 5.0,
    "patience": 4,            # stop after this many epochs without a better validation score
    "seed": 0,
    "device": "cpu",
    "max_steps": None,        # stop (saving 'last') after this many steps in all
}

DEFAULTS = {
    "caption": {**COMMON, "epochs": 10, "lr_decay": 0.9,
                "cnn": "small", "cnn_channels": [16, 32, 64], "cnn_features": 256,
                "cnn_global_max": True, "attention": 64, "attention_query": "words",
                "cell": "lstm", "condition": "every",
                "embed_size": 64, "hidden_size": 256, "dropout": 0.0, "max_length": 30, "beam": 3,
                "length_alpha": None,
                "all_sentences": True},
    "rank": {**COMMON, "cnn": "squeezenet", "encoder": "rnn", "pooling": "sum",
             "embed_size": 256, "margin": 1.0, "scores": "dot", "epochs": 15, "lr": 1e-3,
             "batch_size": 100,
             "weight_decay": 1e-5, "all_sentences": False},
}

# On a real dataset (a --data JSON whose "dataset" is not "shapes"), these replace the
# shapes-tuned defaults: a frozen pretrained CNN (thesis §3.6.1) rather than the small CNN,
# SqueezeNet, which ships (the thesis's VGG-16 is --cnn vgg16, its weights converted once from
# a file the user has), and for the caption generator the sizes, dropout,
# learning rate and batch of Karpathy's neuraltalk (driver.py: word and image encodings and
# hidden size 256, dropout 0.5 before and after the LSTM, 1e-3, 100 sentences a batch: 20
# images with their 5), its vocabulary threshold (5), and sentences cut at 20 words (Flickr8k's
# mean is under 12). neuraltalk runs 50 epochs; 20 here, with validation patience. Beyond
# neuraltalk, the captioner attends over the CNN's 14 x 14 regions (attention 128, the query
# of the last two words, as on the shapes set): on Flickr8k's photos it tells images apart
# (validation: 68% distinct captions at epoch 3 against 4% without; docs/experiments.md).
REAL_DATA = {
    "caption": {"cnn": "squeezenet", "attention": 128, "embed_size": 256, "hidden_size": 256,
                "dropout": 0.5, "lr": 1e-3, "lr_decay": 1.0, "batch_size": 20, "epochs": 20,
                "length_alpha": 0.5,
                "max_length": 20},
    # Ranking on photos: Kiros et al. 2014's cosine scores with their margin 0.2 (eq. 3.6's dot
    # product overfits SqueezeNet's unnormalised features: validation R@10 of search stalled
    # near 30), and all five sentences of each image every epoch (docs/experiments.md).
    "rank": {"cnn": "squeezenet", "scores": "cosine", "margin": 0.2, "all_sentences": True},
}

# What a run saved before a setting existed used (its config.json lacks the key).
SAVED_BEFORE = {"attention": 0, "attention_query": "word_state", "lr_schedule": "step",
                "scores": "dot", "length_alpha": None}

# Written by the run itself, never chosen: the size of what the model reads of an image and,
# with attention over a pretrained CNN's regions, their channels and scale
# (caption/models/precomputed.py).
DERIVED = ("feature_size", "region_size", "region_scale")

# What --resume may change: how long to go on, and where to run.
RESUMABLE = ("epochs", "patience", "device", "max_steps")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names its source, its value and what is allowed."""


@dataclass(frozen=True)
class Rule:
    """What a setting may hold: ``kind`` is "int", "float", "bool", "choice", "path",
    "ints" (a list of ints); ``low``/``high`` bound numbers (and the list's items),
    ``open_low`` excludes ``low``; ``choices`` for "choice"; ``optional`` admits null."""
    kind: str
    low: float = None
    high: float = None
    open_low: bool = False
    choices: tuple = ()
    optional: bool = False
    length: tuple = (1, 1)    # for "ints": the fewest and most items

    def allowed(self):
        """What is allowed, in words (for messages)."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice":
            text = "one of " + ", ".join(self.choices)
        elif self.kind == "path":
            text = "a file or folder path"
        else:
            noun = {"int": "an integer", "float": "a number", "ints": "integers"}[self.kind]
            low = "" if self.low is None else f"{'>' if self.open_low else '>='} {self.low:g}"
            high = "" if self.high is None else f"<= {self.high:g}"
            bounds = " and ".join(b for b in (low, high) if b)
            text = f"{noun} {bounds}".strip()
            if self.kind == "ints":
                text = f"a list of {self.length[0]} to {self.length[1]} {text}"
        return text + (" (or null)" if self.optional else "")

    def check(self, value):
        """True when ``value`` (as parsed from JSON or a flag) is allowed."""
        if value is None:
            return self.optional
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "path":
            return isinstance(value, str) and value.strip() != "" and "\0" not in value
        if self.kind == "ints":
            return (isinstance(value, list) and self.length[0] <= len(value) <= self.length[1]
                    and all(Rule("int", self.low, self.high).check(v) for v in value))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return self.high is None or value <= self.high


RULES = {
    "task": Rule("choice", choices=TASKS),
    "data": Rule("path", optional=True),
    "images": Rule("path", optional=True),
    "features": Rule("path", optional=True),
    "restval_to_train": Rule("bool"),
    "min_count": Rule("int", 1, 10**6),
    "epochs": Rule("int", 1, 10**5),
    "batch_size": Rule("int", 1, 10**5),
    "optimizer": Rule("choice", choices=("sgd", "momentum", "adam", "rmsprop")),
    "lr": Rule("float", 0, 10, open_low=True),
    "lr_decay": Rule("float", 0, 1, open_low=True),
    "lr_schedule": Rule("choice", choices=("step", "cosine")),
    "momentum": Rule("float", 0, 0.9999),
    "weight_decay": Rule("float", 0, 1),
    "grad_clip": Rule("float", 0, 10**6),
    "patience": Rule("int", 1, 10**5),
    "seed": Rule("int", 0, 2**32 - 1),
    "device": Rule("choice", choices=DEVICES),
    "max_steps": Rule("int", 1, 10**9, optional=True),
    # null: features of a network the project does not have (--features of any width)
    "cnn": Rule("choice", choices=("small", "squeezenet", "vgg16"), optional=True),
    "cnn_channels": Rule("ints", 1, 1024, length=(1, 3)),
    "cnn_features": Rule("int", 1, 8192),
    "cnn_global_max": Rule("bool"),
    "attention": Rule("int", 0, 4096),
    "attention_query": Rule("choice", choices=ATTENTION_QUERIES),
    "cell": Rule("choice", choices=("rnn", "lstm")),
    "condition": Rule("choice", choices=CONDITIONS),
    "embed_size": Rule("int", 1, 8192),
    "hidden_size": Rule("int", 1, 8192),
    "dropout": Rule("float", 0, 0.95),
    "max_length": Rule("int", 1, 100),
    "beam": Rule("int", 1, 50),
    "length_alpha": Rule("float", 0, 10, optional=True),
    "all_sentences": Rule("bool"),
    "encoder": Rule("choice", choices=("bow", "rnn")),
    "pooling": Rule("choice", choices=("last", "sum")),
    "margin": Rule("float", 0, 100, open_low=True),
    "scores": Rule("choice", choices=SCORES),
    "feature_size": Rule("int", 1, 10**6),
    "region_size": Rule("int", 1, 10**6),
    "region_scale": Rule("float", 0, 10**9, open_low=True),
}

FLAGS = [  # (setting, help): the settings with a command-line flag, --name-with-dashes
    ("cnn", "image encoder: small (trained jointly), or a frozen pretrained CNN (default "
            "on a real dataset: squeezenet; with --features: the CNN that made the file)"),
    ("cell", "recurrent cell of the caption generator"),
    ("condition", "how the image enters the caption generator"),
    ("encoder", "sentence encoder of the ranking model (eq. 3.4 or 3.5)"),
    ("pooling", "RNN sentence vector: s = h_T (last) or Σ h_t (sum)"),
    ("optimizer", "the update rule (thesis §3.2.2)"),
    ("device", "where to compute"),
    ("epochs", "passes over the training split"),
    ("batch_size", "images per mini-batch"),
    ("lr", "learning rate"),
    ("lr_decay", "multiply the learning rate by this after each epoch (--lr-schedule step)"),
    ("lr_schedule", "step: --lr-decay after each epoch; cosine: from --lr down to 0 over all "
                    "the --epochs, a little at every step"),
    ("momentum", "momentum of --optimizer momentum"),
    ("weight_decay", "L2 penalty (λ‖θ‖² with λ = weight_decay / 2)"),
    ("grad_clip", "clip the global gradient norm to this (0: off)"),
    ("dropout", "dropout probability"),
    ("embed_size", "word-embedding (and image-vector) size"),
    ("hidden_size", "recurrent hidden size"),
    ("attention", "attention size over the CNN's regions (0: none): the small CNN's 8x8, or a "
                  "pretrained CNN's 14x14 map (features made without --no-regions)"),
    ("attention_query", "what looks for the region: the last two words, or the word and the "
                        "state (the runs before issue 16; caption/models/captioner.py)"),
    ("min_count", "keep words seen at least this often"),
    ("margin", "margin of the ranking loss (eq. 3.6)"),
    ("scores", "image-sentence score: dot, vᵀs (eq. 3.6), or cosine, between unit vectors "
               "(Kiros et al. 2014)"),
    ("max_length", "longest caption, in words"),
    ("beam", "beam width of the final test-split captions (caption task)"),
    ("length_alpha", "beam search ranks a caption by log p / ((5 + L) / 6)^α (Wu et al. "
                     "2016); unset: log p per word (caption/models/decoding.py)"),
    ("patience", "epochs without validation gain before stopping"),
    ("max_steps", "stop after this many steps in all (saving 'last')"),
    ("seed", "random seed"),
]
PARSE = {"int": int, "float": float, "choice": str}


def flag(key):
    """The command-line flag of a setting: batch_size -> --batch-size."""
    return "--" + key.replace("_", "-")


def parser():
    p = argparse.ArgumentParser(
        prog="python -m caption.train",
        description="Train the caption generator (thesis §3.7) or the image–sentence "
                    "ranking model (eq. 3.3–3.6), then score the best checkpoint on the test "
                    "split. With no arguments: the LSTM captioner on the built-in shapes set. "
                    "Flags override --config, which overrides the task's defaults "
                    "(caption/training/config.py).")
    add = p.add_argument
    add("--task", choices=TASKS, help="what to train (default: caption)")
    add("--data", help="Karpathy-format dataset JSON (default: the built-in shapes set)")
    add("--images", help="image folder (default: the JSON's folder, or its images/ subfolder "
                         "if there is one; not needed with --features)")
    add("--features", help="precomputed image features (caption.features HDF5 or vgg_feats.mat)")
    for key, text in FLAGS:
        rule = RULES[key]
        if rule.kind == "choice":
            add(flag(key), choices=rule.choices, help=text)
        else:
            add(flag(key), type=PARSE[rule.kind], metavar=key.upper(),
                help=f"{text} ({rule.allowed()})")
    add("--out", help="run folder to create (default: runs/TASK-YYYYmmdd-HHMMSS); "
                      "it must not hold a run already")
    add("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint "
                                        "(only " + ", ".join(flag(k) for k in RESUMABLE)
                                        + " may change)")
    add("--config", metavar="FILE", help="a JSON object of settings (keys as in config.json)")
    add("--quiet", action="store_true", help="no progress bar")
    return p


def check_value(key, value, source):
    """``value`` if the rule of ``key`` allows it, else ConfigError naming ``source``."""
    rule = RULES[key]
    if not rule.check(value):
        shown = json.dumps(value) if not isinstance(value, float) else repr(value)
        kind = "" if rule.kind in ("path", "choice") else f" ({type(value).__name__})"
        raise ConfigError(f"{source}: {shown}{kind} is not allowed; expected {rule.allowed()}")
    return value


def read_config_file(path):
    """The settings of a ``--config`` file: a JSON object, each key known."""
    where = f"--config {path}"
    try:
        settings = read_json(path)
    except OSError as error:
        raise ConfigError(f"{where}: cannot read it ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text; save it as UTF-8 JSON") from None
    except ValueError as error:
        raise ConfigError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: expected a JSON object of settings, "
                          f"got {type(settings).__name__}")
    unknown = sorted(set(settings) - set(RULES))
    if unknown:
        raise ConfigError(f"{where}: unknown settings {unknown}; known: "
                          f"{sorted(set(RULES) - set(DERIVED))}")
    return {k: v for k, v in settings.items() if k not in DERIVED}   # a run's config.json works too


def resolve(args):
    """Defaults < --config file < flags, checked. Returns (config dict, run folder path).

    On ``--resume`` the run's own config.json is read back and checked (see
    ``resume_config``); ``--out`` is the run folder to create.
    """
    for name in ("config", "out", "resume"):   # '~/x' quoted past the shell: the home folder
        value = getattr(args, name)
        if value is not None and not value.strip():
            raise ConfigError(f"--{name} {value!r}: an empty path; name the "
                              f"{'file' if name == 'config' else 'run folder'}")
        if value is not None:
            setattr(args, name, os.path.expanduser(value))
    if args.resume:
        return resume_config(args), pathlib.Path(args.resume)
    from_file = read_config_file(args.config) if args.config else {}
    sources = {key: f"--config {args.config}: {key!r}" for key in from_file}
    chosen = dict(from_file)
    for key, value in vars(args).items():
        if key in RULES and value is not None:
            chosen[key], sources[key] = value, f"{flag(key)} {value}"
    task = check_value("task", chosen.pop("task", "caption"), sources.get("task", "task"))
    other = next(t for t in TASKS if t != task)
    for key in chosen:
        if key not in DEFAULTS[task]:
            raise ConfigError(f"{sources[key]}: a setting of --task {other}, not of "
                              f"--task {task}")
        check_value(key, chosen[key], sources[key])
    real = chosen.get("data") and dataset_name(chosen["data"]) != "shapes"
    config = {"task": task, **DEFAULTS[task], **(REAL_DATA[task] if real else {}), **chosen}
    if chosen.get("features") and "cnn" not in chosen:
        config["cnn"] = None   # the file's own (caption/training/inputs.py)
    check_combinations(config, chosen, sources, real)
    for key in ("data", "images", "features"):
        if config[key] is not None:
            config[key] = absolute_path(config[key], sources[key])
    out = args.out or f"runs/{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    return config, pathlib.Path(out)


def check_combinations(config, chosen, sources, real=False):
    """Refuse settings that are each allowed but cannot work together."""
    if config["task"] == "rank" and config["cnn"] == "small":
        raise ConfigError(f"{sources['cnn']}: the ranking model reads frozen pretrained "
                          f"features (thesis §3.6.1); use --cnn squeezenet or --cnn vgg16")
    if config["features"] and config["cnn"] == "small":
        raise ConfigError(f"{sources['features']}: precomputed features are a pretrained "
                          f"CNN's; name it with --cnn vgg16 or --cnn squeezenet (--cnn small, the "
                          f"caption default, is trained on the pixels and would ignore them)")
    if config.get("attention") and config["cnn"] != "small" and "attention" not in chosen and (
            not real or (config["features"] and not has_regions(config["features"]))):
        config["attention"] = 0   # the shapes default is the small CNN's; vectors alone have none
    if config["images"] and not config["data"]:
        raise ConfigError(f"{sources['images']}: an image folder belongs to a dataset; "
                          f"give the dataset JSON with --data")
    if config["lr_schedule"] == "cosine":
        if chosen.get("lr_decay", 1.0) != 1.0:   # 1.0, as a run's own config.json holds it
            raise ConfigError(f"{sources['lr_decay']}: the cosine schedule sets the learning "
                              f"rate of every step itself; use --lr-schedule step with "
                              f"--lr-decay")
        config["lr_decay"] = 1.0   # a default of the step schedule
    if (chosen.get("momentum", COMMON["momentum"]) != COMMON["momentum"]
            and config["optimizer"] != "momentum"):   # the default: a run's config.json
        raise ConfigError(f"{sources['momentum']}: momentum is used by --optimizer momentum "
                          f"only (the optimizer is {config['optimizer']})")
    if config["task"] == "rank" and config["batch_size"] < 2:
        raise ConfigError(f"{sources['batch_size']}: the ranking loss (eq. 3.6) contrasts each "
                          f"pair with the others of its batch; use at least 2")


def absolute_path(value, source):
    """``value`` as an absolute path string (so the run can be used from any folder)."""
    try:
        return str(pathlib.Path(value).expanduser().absolute())
    except (OSError, RuntimeError, ValueError) as error:
        raise ConfigError(f"{source}: not a usable path ({error})") from None


def derived_keys(config):
    """The DERIVED settings that a run of ``config`` writes: feature_size always, and the
    regions' size and scale with attention over a pretrained CNN's precomputed regions."""
    regions = config.get("attention") and config.get("cnn") != "small"
    return DERIVED if regions else DERIVED[:1]


def check_saved(config, where):
    """A config.json read back from a run: every setting of its task present and allowed."""
    if not isinstance(config, dict):
        raise ConfigError(f"{where}: expected a JSON object of settings")
    task = check_value("task", config.get("task"), f"{where}: 'task'")
    for key in DEFAULTS[task]:
        if key not in config:
            if key in SAVED_BEFORE:   # a setting newer than the run
                config[key] = SAVED_BEFORE[key]
                continue
            raise ConfigError(f"{where}: the setting {key!r} is missing")
        check_value(key, config[key], f"{where}: {key!r}")
    for key in derived_keys(config):   # the run writes them with its config: without, damaged
        if key not in config:
            raise ConfigError(f"{where}: the setting {key!r} is missing (written by the run "
                              f"itself, never chosen; the file was edited or damaged)")
    for key in set(config) - set(DEFAULTS[task]) - {"task"}:
        if key not in DERIVED:
            raise ConfigError(f"{where}: {key!r} is not a setting of --task {task}")
        check_value(key, config[key], f"{where}: {key!r}")
    return config


def resume_config(args):
    """The saved config of the run ``args.resume``, with what may change on resuming."""
    changed = [flag(key) for key, value in vars(args).items()
               if value is not None and key in RULES and key not in RESUMABLE]
    changed += [f"--{name}" for name in ("config", "out") if getattr(args, name)]
    if changed:
        raise ConfigError(f"--resume {args.resume}: {', '.join(changed)} cannot change when "
                          f"resuming (the run keeps its config.json); only "
                          f"{', '.join(flag(k) for k in RESUMABLE)} may")
    from .run_folder import RunFolder
    config = RunFolder.open(args.resume).load_config()
    for key in RESUMABLE:
        value = getattr(args, key)
        if value is not None:
            config[key] = check_value(key, value, f"{flag(key)} {value}")
    config["max_steps"] = args.max_steps   # a step limit holds for one invocation only
    return config
