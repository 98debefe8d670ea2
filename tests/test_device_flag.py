"""``--device cpu|gpu`` on every command that runs a network, and a clear
error when the GPU is asked for on a machine without one (thesis §4.2)."""

import numpy as np
import pytest

from caption import classify, describe, evaluate, features, shipped
from caption.training import config
from nnscratch import Tensor
from nnscratch.backend import gpu_available

PARSERS = {  # command: (its parser's parse_args, the other arguments it requires)
    "caption.train": (lambda argv: config.parser().parse_args(argv), []),
    "caption.classify": (classify.parse_args, ["photo.jpg"]),
    "caption.describe": (lambda argv: describe.parser().parse_args(argv), ["photo.jpg", "--run", "RUN"]),
    "caption.evaluate": (lambda argv: evaluate.parser().parse_args(argv), ["--run", "RUN"]),
    "caption.features": (lambda argv: features.parser().parse_args(argv),
                         ["--data", "d.json", "--out", "f.h5"]),
}
no_gpu = pytest.mark.skipif(gpu_available(), reason="checks the error of a machine without a GPU")


@pytest.mark.parametrize("command", PARSERS)
@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_every_command_takes_a_device(command, device):
    parse, required = PARSERS[command]
    assert parse(required + ["--device", device]).device == device


@pytest.mark.parametrize("command", PARSERS)
def test_no_other_device_is_accepted(command):
    parse, required = PARSERS[command]
    with pytest.raises(SystemExit):
        parse(required + ["--device", "tpu"])


@no_gpu
def test_classify_says_why_it_cannot_use_the_gpu(capsys):
    assert classify.main(["photo.jpg", "--device", "gpu"]) == 1
    assert "no CUDA device is usable here" in capsys.readouterr().err


@no_gpu
def test_moving_to_the_gpu_without_one_names_the_problem():
    with pytest.raises(RuntimeError, match="no CUDA device is usable here"):
        Tensor(np.zeros(3)).to_gpu()


@no_gpu
def test_train_and_describe_say_why_they_cannot_use_the_gpu(tmp_path, capsys):
    from caption import train
    from caption.describe import main as describe_main
    captioner = str(shipped.FOLDER / "shapes-captioner")
    assert train.main(["--device", "gpu", "--out", str(tmp_path / "run")]) == 1
    assert "no CUDA device is usable here" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert describe_main(["photo.jpg", "--run", captioner, "--device", "gpu"]) == 1
    assert "no CUDA device is usable here" in capsys.readouterr().err
