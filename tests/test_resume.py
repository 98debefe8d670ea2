"""One way to open a run for resuming (caption/training/resume.py): a folder that cannot be
resumed is refused with one line, exit 1 and nothing changed, before any dataset is loaded;
a run remembers its data (caption/training/data_digest.py); run folders are created by one
process each (caption/training/run_folder.py)."""
import hashlib
import json
import pathlib
import shutil

import h5py
import pytest

from caption import train
from caption.data.shapes import build_shapes
from caption.training.run_folder import RunError, RunFolder
from caption.shipped import FOLDER as SHIPPED_MODELS

SHIPPED = SHIPPED_MODELS / "shapes-captioner"
TINY = ["--epochs", "1", "--batch-size", "8", "--hidden-size", "16", "--embed-size", "8",
        "--min-count", "1", "--attention", "0", "--quiet"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return build_shapes(root / "tiny", seed=0, n_train=16, n_val=4, n_test=4)


@pytest.fixture(scope="module")
def finished(tiny_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("finished") / "run"
    assert train.main(["--data", str(tiny_data), "--out", str(run), *TINY]) == 0
    return run


@pytest.fixture
def run(finished, tmp_path):
    """A copy of a finished run, to break."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def state(folder):
    """Every file's bytes, to show nothing changed."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "folder" for p in sorted(pathlib.Path(folder).rglob("*"))}


def refused(capsys, folder, *names):
    """--resume of ``folder`` fails with one line holding ``names``, and changes nothing."""
    before = state(folder)
    assert train.main(["--resume", str(folder), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for name in names:
        assert str(name) in err, (name, err)
    assert state(folder) == before
    return err


def test_an_exported_model_cannot_be_resumed(tmp_path, capsys):
    shipped = tmp_path / "shipped"
    shutil.copytree(SHIPPED, shipped)
    refused(capsys, shipped, "last.h5", "cannot be resumed", "--config")


def test_a_last_checkpoint_that_is_a_folder_is_refused(run, capsys):
    (run / "last.h5").unlink()
    (run / "last.h5").mkdir()
    refused(capsys, run, "last.h5")


@pytest.mark.parametrize("progress, field", [
    ({"epoch": "one"}, "epoch"),
    ({"step": -3}, "step"),
    ({"rng": {"bit_generator": "nonsense"}}, "rng"),
    ({"best": "high"}, "best"),
    ({"lr": float("nan")}, "lr"),
])
def test_a_damaged_progress_is_refused(run, capsys, progress, field):
    with h5py.File(run / "last.h5", "r+") as f:
        metadata = json.loads(f.attrs["metadata"])
        metadata["progress"].update(progress)
        del f.attrs["metadata"]
        f.attrs["metadata"] = json.dumps(metadata)
    refused(capsys, run, "last.h5", field)


def test_a_vocabulary_that_no_longer_fits_the_checkpoint_is_refused(run, capsys):
    vocab = json.loads((run / "vocab.json").read_text())
    vocab["words"].append("zzzz")
    (run / "vocab.json").write_text(json.dumps(vocab))
    refused(capsys, run, "last.h5", "the run's model has")


def test_a_log_line_that_is_not_a_record_is_refused(run, capsys):
    with open(run / "log.jsonl", "a") as f:
        f.write("[1, 2]\n{\"epoch\": 2}\n")
    refused(capsys, run, "log.jsonl", "line 2")


def test_a_vocabulary_of_integers_is_refused(run, capsys):
    (run / "vocab.json").write_text(json.dumps({"format": json.loads(
        (run / "vocab.json").read_text())["format"], "min_count": 1, "words": [1, 2, 3, 4]}))
    refused(capsys, run, "vocab.json")


def test_a_config_without_feature_size_is_refused(run, capsys):
    config = json.loads((run / "config.json").read_text())
    del config["feature_size"]
    (run / "config.json").write_text(json.dumps(config))
    refused(capsys, run, "config.json", "feature_size")


def test_a_changed_dataset_is_refused_naming_it(run, tiny_data, tmp_path, capsys):
    data = json.loads(tiny_data.read_text())
    saved = tiny_data.read_text()
    data["images"][0]["sentences"][0]["tokens"] = ["zzz"]
    try:
        tiny_data.write_text(json.dumps(data))
        refused(capsys, run, tiny_data, "changed since the run started")
    finally:
        tiny_data.write_text(saved)


def test_a_locked_run_is_refused_before_its_dataset_is_loaded(run, tiny_data, capsys,
                                                              monkeypatch):
    import caption.training.build as build
    monkeypatch.setattr(build, "load_karpathy", lambda *a, **k: pytest.fail("loaded"))
    with RunFolder.open(run).lock():
        refused(capsys, run, "another process is training this run")


def test_two_processes_never_share_a_staging_folder(tmp_path):
    foreign = tmp_path / ".run.creating-1-abcd"          # another process's, mid-creation
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    first = RunFolder.create(tmp_path / "run", {"config.json": "{}"}, numbered=True)
    second = RunFolder.create(tmp_path / "run", {"config.json": "{}"}, numbered=True)
    assert (first.path.name, second.path.name) == ("run", "run-2")
    assert (foreign / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [foreign.name, "run", "run-2"]


def test_two_processes_that_both_found_the_name_free_get_two_folders(tmp_path, monkeypatch):
    first = RunFolder.create(tmp_path / "run", {"config.json": "1"}, numbered=True)
    monkeypatch.setattr(RunFolder, "check_free", staticmethod(lambda path, advice=None: None))
    second = RunFolder.create(tmp_path / "run", {"config.json": "2"}, numbered=True)
    assert (first.path / "config.json").read_text() == "1"
    assert second.path.name == "run-2" and (second.path / "config.json").read_text() == "2"
    with pytest.raises(RunError, match="another process created a run there meanwhile"):
        RunFolder.create(tmp_path / "run", {"config.json": "3"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run-2"]


def test_a_finished_runs_config_starts_a_new_run(finished, tmp_path):
    out = tmp_path / "again"
    assert train.main(["--config", str(finished / "config.json"), "--out", str(out),
                       "--max-steps", "1", "--quiet"]) == 0
    old, new = (json.loads((f / "config.json").read_text()) for f in (finished, out))
    assert old == {**new, "max_steps": old["max_steps"]}


def test_a_tilde_in_path_flags_is_the_home_folder(finished, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(finished / "config.json", tmp_path / "c.json")
    assert train.main(["--config", "~/c.json", "--out", "~/x", "--max-steps", "1",
                       "--quiet"]) == 0
    assert (tmp_path / "x" / "config.json").exists() and not pathlib.Path("~").exists()


@pytest.mark.parametrize("flag", ["--resume", "--config"])
def test_an_empty_resume_or_config_is_refused_not_ignored(tmp_path, capsys, monkeypatch, flag):
    monkeypatch.chdir(tmp_path)
    assert train.main([flag, "", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} '': an empty path") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
