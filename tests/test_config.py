"""caption/training/config.py: every setting is checked at the entrance, from flags and from
--config files alike, with one message naming the source, the value and what is allowed."""
import json

import pytest

from caption import train
from caption.training.config import DEFAULTS, RULES, ConfigError, check_saved, parser, resolve


def resolved(tmp_path, *flags, config=None):
    argv = [*flags, "--out", str(tmp_path / "run")]
    if config is not None:
        path = tmp_path / "settings.json"
        path.write_text(config if isinstance(config, str) else json.dumps(config),
                        encoding="latin-1")
        argv += ["--config", str(path)]
    return resolve(parser().parse_args(argv))[0]


@pytest.mark.parametrize("flags, message", [
    (["--hidden-size", "0"], "--hidden-size 0: 0 (int) is not allowed; expected an integer >= 1"),
    (["--epochs", "0"], "--epochs 0: 0 (int) is not allowed"),
    (["--grad-clip", "-1"], "--grad-clip -1.0: -1.0 (float) is not allowed; expected a number >= 0"),
    (["--lr-decay", "-1"], "--lr-decay -1.0: -1.0 (float) is not allowed; expected a number > 0 and <= 1"),
    (["--lr", "nan"], "--lr nan: nan (float) is not allowed"),
    (["--lr", "0"], "expected a number > 0"),
    (["--beam", "0"], "--beam 0: 0 (int) is not allowed; expected an integer >= 1 and <= 50"),
    (["--beam", "100000"], "--beam 100000"),
    (["--max-length", "0"], "--max-length 0"),
    (["--dropout", "1"], "--dropout 1.0"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--attention", "-1"], "--attention -1"),
    (["--task", "rank", "--cnn", "small"], "--cnn small: the ranking model reads frozen"),
    (["--task", "rank", "--batch-size", "1"], "the ranking loss (eq. 3.6) contrasts"),
    (["--images", "pictures"], "--images pictures: an image folder belongs to a dataset"),
    (["--momentum", "0.5"], "momentum is used by --optimizer momentum only"),
    (["--lr-schedule", "cosine", "--lr-decay", "0.9"],
     "--lr-decay 0.9: the cosine schedule sets the learning rate of every step itself"),
    (["--encoder", "bow"], "--encoder bow: a setting of --task rank, not of --task caption"),
    (["--task", "rank", "--cell", "rnn"], "--cell rnn: a setting of --task caption, not of --task rank"),
])
def test_bad_flags_are_refused_naming_the_flag(tmp_path, flags, message):
    with pytest.raises(ConfigError) as error:
        resolved(tmp_path, *flags)
    assert message in str(error.value)


@pytest.mark.parametrize("settings, message", [
    ({"epochs": "3"}, "'epochs': \"3\" (str) is not allowed; expected an integer >= 1"),
    ({"epochs": 3.0}, "'epochs': 3.0 (float) is not allowed"),
    ({"epochs": True}, "'epochs': true (bool) is not allowed"),
    ({"device": "tpu"}, "'device': \"tpu\" is not allowed; expected one of cpu, gpu"),
    ({"restval_to_train": "yes"}, "expected true or false"),
    ({"cnn_channels": [16, 0]}, "'cnn_channels'"),
    ({"cnn_channels": [16, 32, 64, 128]}, "a list of 1 to 3 integers"),
    ({"encoder": "bow"}, "'encoder': a setting of --task rank"),
    ({"learning_rate": 1}, "unknown settings ['learning_rate']"),
    ({"data": ""}, "'data': \"\" is not allowed; expected a file or folder path"),
    ({"task": "detect"}, "'task': \"detect\" is not allowed; expected one of caption, rank"),
    ([1, 2], "expected a JSON object of settings, got list"),
    ("{not json", "not valid JSON"),
    ('{"data": "caf\xe9"}', "not UTF-8 text"),
])
def test_bad_config_files_are_refused_naming_the_key(tmp_path, settings, message):
    with pytest.raises(ConfigError) as error:
        resolved(tmp_path, config=settings)
    assert message in str(error.value) and "settings.json" in str(error.value)


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path):
    config = resolved(tmp_path, "--epochs", "3", config={"epochs": 5, "lr": 0.01})
    assert config["epochs"] == 3 and config["lr"] == 0.01
    assert config["hidden_size"] == DEFAULTS["caption"]["hidden_size"]
    assert resolved(tmp_path, config={"task": "rank"})["encoder"] == "rnn"   # the file's task


def test_paths_are_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.json").write_text('{"dataset": "shapes", "images": []}')
    config = resolved(tmp_path, "--data", "d.json", "--images", "pictures")
    assert config["data"] == str(tmp_path / "d.json")
    assert config["images"] == str(tmp_path / "pictures")


def test_every_default_is_allowed_by_its_rule():
    for task, defaults in DEFAULTS.items():
        for key, value in defaults.items():
            assert RULES[key].check(value), (task, key, value)


def test_resume_refuses_settings_that_cannot_change(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    assert train.main(["--resume", str(run), "--lr", "0.1"]) == 1
    error = capsys.readouterr().err
    assert "--lr cannot change when resuming" in error and "--epochs" in error


def test_the_train_command_turns_a_bad_setting_into_one_line(tmp_path, capsys):
    assert train.main(["--epochs", "0", "--out", str(tmp_path / "run")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: --epochs 0") and error.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_help_lists_what_each_setting_allows():
    text = parser().format_help()
    assert "--grad-clip GRAD_CLIP" in text and "a number >= 0" in text


def test_a_real_dataset_gets_its_own_defaults(tmp_path):
    (tmp_path / "d.json").write_text('{"dataset": "flickr8k", "images": []}')
    (tmp_path / "s.json").write_text('{"dataset": "shapes", "images": []}')
    real = resolved(tmp_path, "--data", str(tmp_path / "d.json"))
    assert resolved(tmp_path, "--data", str(tmp_path / "s.json"))["cnn"] == "small"
    assert (real["cnn"], real["hidden_size"], real["dropout"]) == ("squeezenet", 256, 0.5)
    data = str(tmp_path / "d.json")
    assert resolved(tmp_path, "--data", data, "--hidden-size", "64")["hidden_size"] == 64
    assert resolved(tmp_path, "--task", "rank", "--data", data)["cnn"] == "squeezenet"
    assert resolved(tmp_path, "--data", data, "--cnn", "vgg16")["cnn"] == "vgg16"   # one flag away
    # with --features, the CNN is the file's own (caption/training/inputs.py), unless named
    assert resolved(tmp_path, "--data", data, "--features", "f.h5")["cnn"] is None
    assert resolved(tmp_path, "--data", data, "--features", "f.h5",
                    "--cnn", "vgg16")["cnn"] == "vgg16"
    assert resolved(tmp_path)["cnn"] == "small"                      # the shapes set keeps its own


def test_a_run_saved_before_a_setting_existed_gets_what_it_used(tmp_path):
    saved = {**resolved(tmp_path), "feature_size": 256}   # as build_task records it
    del saved["attention"], saved["lr_schedule"]
    checked = check_saved(saved, "config.json")
    assert (checked["attention"], checked["lr_schedule"]) == (0, "step")
