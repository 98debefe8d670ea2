"""python -m caption.train on a tiny shapes subset: resume bit for bit, fault
stops, and the command line end to end (train, then describe)."""
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import nnscratch.io
from nnscratch import Tensor
from nnscratch.optim import Adam
from caption import train
from caption.training.config import ConfigError, parser, resolve
from caption.data.shapes import build_shapes
from caption.training.loop import cosine_lr
from caption.training.tasks.caption import CaptionTask

TINY = ["--epochs", "2", "--batch-size", "8", "--hidden-size", "16", "--embed-size", "8",
        "--min-count", "1", "--dropout", "0.3", "--lr-decay", "0.5", "--quiet"]  # resume must restore the decayed lr


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return str(build_shapes(root / "tiny", seed=0, n_train=40, n_val=8, n_test=8))


def parameters(run, name="last"):
    return {k: v for k, v in nnscratch.io.load(run / f"{name}.h5").items() if k.startswith("model/")}


def test_an_interrupted_run_resumes_to_the_same_parameters(tiny_data, tmp_path, monkeypatch):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    assert train.main(["--data", tiny_data, "--out", str(straight), *TINY]) == 0

    calls = {"n": 0}
    original = CaptionTask.loss

    def interrupted_loss(self, batch):  # Ctrl-C arrives during the 7th step (epoch 2)
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(CaptionTask, "loss", interrupted_loss)
    assert train.main(["--data", tiny_data, "--out", str(broken), *TINY]) == 130
    monkeypatch.setattr(CaptionTask, "loss", original)
    assert not (broken / "metrics.json").exists()
    assert train.main(["--resume", str(broken), "--quiet"]) == 0

    a, b = parameters(straight), parameters(broken)
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert json.loads((straight / "metrics.json").read_text()) == json.loads((broken / "metrics.json").read_text())


def test_the_cosine_schedule_sets_every_steps_learning_rate(tiny_data, tmp_path, monkeypatch):
    seen = []
    original = Adam.step

    def recording_step(self):
        seen.append(self.lr)
        original(self)

    monkeypatch.setattr(Adam, "step", recording_step)
    flags = [f for f in TINY if f not in ("--lr-decay", "0.5")]
    assert train.main(["--data", tiny_data, "--out", str(tmp_path / "run"), *flags,
                       "--lr", "0.01", "--lr-schedule", "cosine"]) == 0
    steps = len(seen)   # 2 epochs of 40 images in batches of 8
    assert steps == 10
    assert seen[0] == 0.01 and math.isclose(seen[steps // 2], 0.005)
    assert all(a > b for a, b in zip(seen, seen[1:])) and seen[-1] == cosine_lr(0.01, 9, 10)


def test_max_steps_stops_and_resume_finishes(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert train.main(["--data", tiny_data, "--out", str(run), *TINY, "--max-steps", "3"]) == 0
    assert "--resume" in capsys.readouterr().out
    assert (run / "last.h5").exists() and not (run / "metrics.json").exists()
    assert train.main(["--resume", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"BLEU-4", "CIDEr-D", "perplexity", "attribute_precision", "baselines"} <= metrics.keys()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]


def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_checkpoint(tiny_data, tmp_path,
                                                                          monkeypatch, capsys):
    original = CaptionTask.loss
    calls = {"n": 0}

    def poisoned_loss(self, batch):  # epoch 1 has 5 steps; step 7 is in epoch 2
        calls["n"] += 1
        loss = original(self, batch)
        return loss * Tensor(np.float32("nan")) if calls["n"] == 7 else loss

    monkeypatch.setattr(CaptionTask, "loss", poisoned_loss)
    run = tmp_path / "run"
    assert train.main(["--data", tiny_data, "--out", str(run), *TINY]) == 1
    error = capsys.readouterr().err
    assert "loss is nan at epoch 2, step 7" in error and "last.h5" in error
    assert nnscratch.io.load(run / "last.h5")  # the end-of-epoch-1 checkpoint is intact


def test_the_command_line_from_a_clean_folder(tiny_data, tmp_path):
    env = {**os.environ, "NNSCRATCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "caption.train", "--data", tiny_data, "--out", "run",
                           *TINY[:-1], "--epochs", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "CIDEr-D" in done.stdout
    for name in ("config.json", "vocab.json", "last.h5", "best.h5", "log.jsonl", "metrics.json"):
        assert (tmp_path / "run" / name).exists(), name
    image = os.path.join(os.path.dirname(tiny_data), "images", "00000.png")
    described = subprocess.run([sys.executable, "-m", "caption.describe", image, "--run", "run",
                                "--beam", "2", "--top", "2", "--json"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert described.returncode == 0, described.stderr
    captions = json.loads(described.stdout)["captions"][image]
    assert len(captions) == 2 and all(isinstance(c["caption"], str) for c in captions)
    assert captions[0]["score"] >= captions[1]["score"]


def test_help_and_bad_settings(tmp_path, capsys):
    done = subprocess.run([sys.executable, "-m", "caption.train", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--resume" in done.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"learning_rate": 1}')
    assert train.main(["--config", str(bad)]) == 1
    assert "unknown settings ['learning_rate']" in capsys.readouterr().err
    assert train.main(["--resume", str(tmp_path)]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_attention_and_features_need_the_right_cnn(tmp_path):
    def resolved(*flags):
        return resolve(parser().parse_args([*flags, "--out", str(tmp_path / "run")]))[0]

    assert resolved()["attention"] == 64 and resolved("--attention", "0")["attention"] == 0
    assert resolved("--cnn", "vgg16")["attention"] == 0        # the default does not apply
    # asked for, attention reads a pretrained CNN's regions (caption/models/precomputed.py)
    assert resolved("--cnn", "squeezenet", "--attention", "8")["attention"] == 8
    assert resolved("--cnn", "vgg16", "--features", "f.h5")["features"] == str(pathlib.Path("f.h5").absolute())
    assert resolved("--features", "f.h5")["cnn"] is None          # the file's own CNN
    with pytest.raises(ConfigError, match="--features f.h5: precomputed features are a pretrained"):
        resolved("--features", "f.h5", "--cnn", "small")         # the small CNN would ignore them
    asked = tmp_path / "asked.json"
    asked.write_text('{"cnn": "vgg16", "attention": 32}')
    assert resolved("--config", str(asked))["attention"] == 32


def test_an_exported_model_describes_like_its_run(tiny_data, tmp_path):
    from describing import describe
    from caption.export import main as export_main
    run, shipped = tmp_path / "run", tmp_path / "shipped"
    assert train.main(["--data", tiny_data, "--out", str(run), *TINY]) == 0
    assert export_main([str(run), str(shipped)]) == 0
    assert sorted(p.name for p in shipped.iterdir()) == ["best.h5", "config.json", "metrics.json",
                                                         "vocab.json"]
    stored = nnscratch.io.load(shipped / "best.h5")
    assert stored.keys() == parameters(run, "best").keys()           # no optimizer state
    assert all(np.array_equal(stored[k], v) for k, v in parameters(run, "best").items())
    image = str(next(pathlib.Path(tiny_data).parent.rglob("*.png")))
    assert describe([image], shipped, beam=2)[0] == describe([image], run, beam=2)[0]
    assert export_main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "out").exists()
