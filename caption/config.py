"""The configuration of a training run: defaults per task, then a ``--config``
JSON file, then command-line flags, each overriding the one before. The
resolved configuration is saved in the run folder, so that ``--resume RUN``
and ``caption.evaluate`` rebuild exactly the same model.
"""
import argparse
import json
import pathlib
import time

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
    "lr_decay": 1.0,          # multiply lr by this after every epoch
    "momentum": 0.9,          # for --optimizer momentum
    "weight_decay": 0.0,      # the λ of λ‖θ‖² (eq. 3.6) is weight_decay / 2
    "grad_clip": 5.0,
    "patience": 4,            # stop after this many epochs without a better validation score
    "seed": 0,
    "device": "cpu",
    "max_steps": None,        # stop (saving 'last') after this many steps in all
}

DEFAULTS = {
    "caption": {**COMMON, "epochs": 12, "lr_decay": 0.9,
                "cnn": "small", "cnn_channels": [16, 32, 64], "cnn_features": 256,
                "cnn_global_max": True, "attention": 64, "cell": "lstm", "condition": "every",
                "embed_size": 64, "hidden_size": 256, "dropout": 0.0, "max_length": 30, "beam": 3,
                "all_sentences": True},
    "rank": {**COMMON, "cnn": "squeezenet", "encoder": "rnn", "pooling": "sum",
             "embed_size": 256, "margin": 1.0, "epochs": 15, "lr": 1e-3, "batch_size": 100,
             "weight_decay": 1e-5, "all_sentences": False},
}

CHOICES = {"task": ("caption", "rank"), "optimizer": ("sgd", "momentum", "adam", "rmsprop"),
           "cell": ("rnn", "lstm"), "cnn": ("small", "squeezenet", "vgg16"),
           "condition": ("init", "first", "every"), "encoder": ("bow", "rnn"),
           "pooling": ("last", "sum"), "device": ("cpu", "gpu")}


def parser():
    p = argparse.ArgumentParser(
        prog="python -m caption.train",
        description="Train the caption generator (thesis §3.7) or the image–sentence "
                    "ranking model (eq. 3.3–3.6). With no arguments: the LSTM captioner on "
                    "the built-in shapes set. Flags override --config, which overrides the "
                    "task's defaults (see caption/config.py).")
    add = p.add_argument
    add("--task", choices=CHOICES["task"], default="caption")
    add("--data", help="Karpathy-format dataset JSON (default: the built-in shapes set)")
    add("--images", help="image folder (default: the JSON's folder, or its images/ subfolder if there is one)")
    add("--features", help="precomputed image features (caption.features HDF5 or vgg_feats.mat)")
    add("--cnn", choices=CHOICES["cnn"], help="image encoder: small (trained jointly), or frozen pretrained features")
    add("--cell", choices=CHOICES["cell"], help="recurrent cell of the caption generator")
    add("--condition", choices=CHOICES["condition"], help="how the image enters the caption generator")
    add("--encoder", choices=CHOICES["encoder"], help="sentence encoder of the ranking model (eq. 3.4 or 3.5)")
    add("--pooling", choices=CHOICES["pooling"], help="RNN sentence vector: s = h_T (last) or Σ h_t (sum)")
    for name, kind, text in [("epochs", int, "passes over the training split"),
                             ("batch-size", int, "images per mini-batch"),
                             ("lr", float, "learning rate"),
                             ("lr-decay", float, "multiply the learning rate by this after each epoch"),
                             ("weight-decay", float, "L2 penalty (λ‖θ‖² with λ = weight_decay / 2)"),
                             ("grad-clip", float, "clip the global gradient norm to this (0: off)"),
                             ("dropout", float, "dropout probability"),
                             ("embed-size", int, "word-embedding (and image-vector) size"),
                             ("hidden-size", int, "recurrent hidden size"),
                             ("attention", int, "attention size over the small CNN's regions "
                                                "(0: none; caption task, --cnn small)"),
                             ("min-count", int, "keep words seen at least this often"),
                             ("beam", int, "beam width of the final test-split captions (caption task)"),
                             ("patience", int, "epochs without validation gain before stopping"),
                             ("max-steps", int, "stop after this many steps in all (saving 'last')"),
                             ("seed", int, "random seed")]:
        add(f"--{name}", type=kind, help=text)
    add("--optimizer", choices=CHOICES["optimizer"])
    add("--device", choices=CHOICES["device"])
    add("--out", help="run folder (default: runs/TASK-YYYYmmdd-HHMMSS)")
    add("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    add("--config", metavar="FILE", help="a JSON file of settings (keys as in config.json)")
    add("--quiet", action="store_true", help="no progress bar")
    return p


def resolve(args):
    """Defaults < --config file < flags. Returns (config dict, run folder path)."""
    if args.resume:
        config_path = pathlib.Path(args.resume) / "config.json"
        if not config_path.exists():
            raise SystemExit(f"--resume {args.resume}: no config.json there; is it a run folder?")
        config = json.loads(config_path.read_text())
        # what may change on resuming: how long to go on, and where to run
        config["max_steps"] = args.max_steps
        for key in ("epochs", "patience", "device"):
            if getattr(args, key) is not None:
                config[key] = getattr(args, key)
        return config, pathlib.Path(args.resume)
    config = {"task": args.task, **DEFAULTS[args.task]}
    chosen = {}               # what the --config file and the flags set
    if args.config:
        try:
            chosen = json.loads(pathlib.Path(args.config).read_text())
        except (OSError, ValueError) as error:
            raise SystemExit(f"--config {args.config}: cannot read it as JSON ({error})")
        unknown = sorted(set(chosen) - set(config))
        if unknown:
            raise SystemExit(f"--config {args.config}: unknown settings {unknown}; "
                             f"known: {sorted(config)}")
    chosen.update({key: value for key, value in vars(args).items()
                   if key in config and value is not None and key != "task"})
    config.update(chosen)
    if config["features"] and config["cnn"] == "small":
        raise SystemExit(f"--features {config['features']}: precomputed features are a pretrained "
                         f"CNN's; name it with --cnn vgg16 or --cnn squeezenet (--cnn small, the "
                         f"caption default, is trained on the pixels and would ignore them)")
    if config.get("attention") and config["cnn"] != "small":
        if chosen.get("attention"):
            raise SystemExit(f"--attention {chosen['attention']} needs --cnn small: attention "
                             f"looks at the regions of the small CNN's last map, and "
                             f"--cnn {config['cnn']} gives one vector per image (use --attention 0)")
        config["attention"] = 0   # the default is the small CNN's
    out = args.out or f"runs/{config['task']}-{time.strftime('%Y%m%d-%H%M%S')}"
    return config, pathlib.Path(out)
