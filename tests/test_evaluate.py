"""``python -m caption.evaluate`` and the HTML report, on tiny runs trained here."""
import html.parser
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image as PILImage

import nnscratch.threads as threads
from caption import evaluate, train
from caption.evaluation import report
from caption.data.features import write_features
from caption.data.karpathy import Image
from caption.data.shapes import build_shapes

ROOT = pathlib.Path(__file__).resolve().parents[1]
CAPTION_METRICS = {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D", "METEOR",
                   "perplexity", "attribute_precision", "attribute_recall",
                   "distinct captions", "words used", "novel captions"}
EVALUATION_KEYS = {"run", "task", "split", "checkpoint", "images", "metrics", "report"}
SCRIPT = "<script>alert(1)</script>"


class Page(html.parser.HTMLParser):
    """What a browser would see: start tags with their attributes, and the text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def srcs(self):
        return [attrs["src"] for tag, attrs in self.tags if tag == "img"]

    def headings(self):
        return " | ".join(self.text)


def parse_report(run):
    return Page((run / "report.html").read_text(encoding="utf-8"))


def assert_images_inside(run, page):
    """Every <img src> is a relative path to a file inside the run folder."""
    assert page.srcs(), "the report shows no image"
    for src in page.srcs():
        path = (run / src).resolve()
        assert path.is_relative_to(run.resolve()), src
        assert path.is_file(), src


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return build_shapes(tmp_path_factory.mktemp("data") / "shapes", seed=0,
                        n_train=40, n_val=10, n_test=10)


@pytest.fixture(scope="module")
def caption_run(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "caption"
    assert train.main(["--data", str(shapes), "--epochs", "1", "--batch-size", "8",
                       "--hidden-size", "16", "--embed-size", "8", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def rank_run(shapes, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rank")
    imgids = [image["imgid"] for image in json.loads(shapes.read_text())["images"]]
    features = folder / "features.h5"
    relu = np.maximum(np.random.default_rng(0).normal(size=(len(imgids), 512)), 0)   # SqueezeNet's
    write_features(features, relu, imgids)
    out = folder / "run"
    assert train.main(["--task", "rank", "--data", str(shapes), "--features", str(features),
                       "--encoder", "bow", "--epochs", "1", "--batch-size", "8",
                       "--embed-size", "8", "--quiet", "--out", str(out)]) == 0
    return out


def test_caption_run_at_the_runs_beam_matches_training_metrics(caption_run):
    trained = json.loads((caption_run / "metrics.json").read_text())
    assert trained["beam"] == 3                      # the default of the final test captions
    assert evaluate.main(["--run", str(caption_run), "--sample", "4", "--beam", "3"]) == 0
    evaluation = json.loads((caption_run / "evaluation-test.json").read_text())
    assert set(evaluation) == EVALUATION_KEYS | {"beam", "captions"}
    assert (evaluation["task"], evaluation["split"], evaluation["beam"]) == ("caption", "test", 3)
    metrics = evaluation["metrics"]
    assert set(metrics) == CAPTION_METRICS
    assert metrics["METEOR"].startswith("not computed")
    for name in CAPTION_METRICS - {"METEOR"}:
        assert metrics[name] == pytest.approx(trained[name], abs=1e-12), name
    # CIDEr-D of the corpus is the mean of the per-image scores
    per_image = [record["scores"]["CIDEr-D"] for record in evaluation["captions"]]
    assert np.mean(per_image) == pytest.approx(metrics["CIDEr-D"], abs=1e-12)


def test_caption_run_beam_report(caption_run, capsys):
    assert evaluate.main(["--run", str(caption_run), "--beam", "3", "--sample", "4"]) == 0
    printed = capsys.readouterr().out
    assert "CIDEr-D" in printed and "report.html" in printed
    evaluation = json.loads((caption_run / "evaluation-test.json").read_text())
    assert len(evaluation["captions"]) == evaluation["images"] == 10
    for record in evaluation["captions"]:
        alternatives = record["alternatives"]
        assert 1 < len(alternatives) <= 3
        assert record["caption"] == alternatives[0]["caption"]
        assert [a["score"] for a in alternatives] == sorted((a["score"] for a in alternatives),
                                                            reverse=True)
    page = parse_report(caption_run)
    assert_images_inside(caption_run, page)
    text = page.headings()
    for heading in ("A sample of 4 images", "Best CIDEr-D", "Worst CIDEr-D", "Training curves"):
        assert heading in text
    assert evaluation["captions"][0]["alternatives"][1]["caption"] in text


def test_subprocess_json_on_val(caption_run):
    done = subprocess.run([sys.executable, "-m", "caption.evaluate", "--run", str(caption_run),
                           "--split", "val", "--json", "--sample", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads((caption_run / "evaluation-val.json").read_text())
    assert printed["split"] == "val" and set(printed["metrics"]) == CAPTION_METRICS


def test_rank_run_table_and_report(rank_run, capsys):
    assert evaluate.main(["--run", str(rank_run), "--sample", "3"]) == 0
    assert "annotation" in capsys.readouterr().out
    evaluation = json.loads((rank_run / "evaluation-test.json").read_text())
    assert set(evaluation) == EVALUATION_KEYS
    trained = json.loads((rank_run / "metrics.json").read_text())
    assert evaluation["metrics"] == {d: trained[d] for d in ("annotation", "search")}
    page = parse_report(rank_run)
    assert_images_inside(rank_run, page)
    text = page.headings()
    assert "top sentences per image" in text and "top images per sentence" in text
    sentence_items = sum(tag == "li" for tag, _ in page.tags)
    assert sentence_items == 3 * report.TOP


def write_png(path, size=(8, 8)):
    PILImage.new("RGB", size, (200, 30, 30)).save(path)
    return path


def test_report_escapes_text(tmp_path):
    """A caption, a reference and a file name holding markup are shown as text."""
    config = {"task": "caption", "note": SCRIPT}
    log = [{"epoch": 1, "train_loss": 2.0, "CIDEr-D": 0.1}]
    evil_name = '"><img src=x onerror=alert(1)>.png'
    images = [Image(filename=evil_name, relpath=evil_name, imgid=7, split="test",
                    tokens=[["a", "b"]], raw=[f"a red {SCRIPT} circle"], sentids=[0],
                    path=write_png(tmp_path / "source.png"))]
    record = {"caption": SCRIPT, "scores": {"CIDEr-D": 0.5, "BLEU-1": 0.25},
              "alternatives": [{"caption": SCRIPT, "score": -0.5, "logprob": -2.0},
                               {"caption": "", "score": -0.9, "logprob": -0.9}]}
    evaluation = {"run": str(tmp_path), "task": "caption", "split": "test", "checkpoint": "best",
                  "beam": 2, "images": 1, "metrics": {"CIDEr-D": 0.5, "METEOR": f"not computed: {SCRIPT}"},
                  "captions": [record]}
    path = report.caption_report(tmp_path, evaluation, images, config, log, sample=24)
    source = path.read_text(encoding="utf-8")
    page = Page(source)
    assert "script" not in {tag for tag, _ in page.tags}
    assert SCRIPT not in source and "&lt;script&gt;" in source
    assert SCRIPT in page.headings() and f"a red {SCRIPT} circle" in page.headings()
    assert "(empty caption)" in page.headings()
    # the image appears once each in the sample, the best and the worst; no injected <img>
    curves = f"{report.IMAGE_DIR}/{report.CURVES}"
    assert [src for src in page.srcs() if src != curves] == ["report_images/img000007.png"] * 3
    assert_images_inside(tmp_path, page)


def test_report_without_readable_image(tmp_path):
    images = [Image(filename="gone.png", relpath="gone.png", imgid=1, split="test", tokens=[["a"]],
                    raw=["a"], sentids=[0], path=tmp_path / "gone.png")]
    evaluation = {"metrics": {}, "captions": [{"caption": "a", "scores": {"CIDEr-D": 0.0},
                                               "alternatives": [{"caption": "a", "score": 0.0,
                                                                 "logprob": 0.0}]}]}
    page = parse_report(report.caption_report(tmp_path, evaluation, images, {"task": "caption"},
                                              []).parent)
    assert page.srcs() == []
    assert "image not available" in page.headings()
    assert "No training log" in page.headings()


def test_curves_table_has_a_row_per_epoch():
    log = [{"epoch": e, "step": 5 * e, "split": "val", "train_loss": 3.0 / e, "CIDEr-D": 0.1 * e}
           for e in (1, 2, 3)]
    assert report.curve_keys(log) == ["train_loss", "CIDEr-D"]
    page = Page(report.curves_table(log))
    assert sum(tag == "tr" for tag, _ in page.tags) == 1 + 3
    assert "0.3" in page.text and "1.5" in page.text


def test_plot_curves_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    log = [{"epoch": e, "train_loss": 3.0 / e, "CIDEr-D": 0.1 * e} for e in (1, 2)]
    assert report.plot_curves(log, tmp_path / "curves.png")
    with PILImage.open(tmp_path / "curves.png") as image:
        assert image.format == "PNG" and image.width > 100


def test_sample_rows_deterministic():
    rows = report.sample_rows(100, 24)
    assert np.array_equal(rows, report.sample_rows(100, 24))
    assert len(set(rows.tolist())) == 24 and np.all(np.diff(rows) > 0)
    assert report.sample_rows(5, 24).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("setup, message", [
    (lambda path: None, "no such run folder"),
    (lambda path: path.mkdir(), "no config.json"),
    (lambda path: (path.mkdir(), (path / "config.json").write_text("{not json")), "not valid JSON"),
    (lambda path: (path.mkdir(), (path / "config.json").write_text('{"task": "caption"}')),
     "the setting 'data' is missing"),
])
def test_bad_run_folder(tmp_path, setup, message, capsys):
    run = tmp_path / "run"
    setup(run)
    assert evaluate.main(["--run", str(run)]) == 1
    assert message in capsys.readouterr().err
    assert not (run / "report.html").exists()
    assert run.exists() == (message != "no such run folder")


def test_on_a_busy_machine_a_bad_run_is_still_one_line(tmp_path, monkeypatch, capsys):
    """The CPU threads are chosen (and said) once the run is open, not before its error."""
    monkeypatch.setattr(threads, "idle_cores", lambda: 1.0)
    run = tmp_path / "run"
    run.mkdir()
    with threads.use_threads(2):
        assert evaluate.main(["--run", str(run)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_evaluation_follows_the_load_between_batches_unless_threads_are_asked(
        caption_run, tmp_path, follower_calls):
    with threads.use_threads(2):
        assert evaluate.main(["--run", str(caption_run), "--out", str(tmp_path / "a")]) == 0
        followed = len(follower_calls)
        assert evaluate.main(["--run", str(caption_run), "--out", str(tmp_path / "b"),
                              "--threads", "1"]) == 0
    assert followed >= 2 and len(follower_calls) == followed   # decoding, the references


def test_a_run_without_the_checkpoint(caption_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(caption_run, run)
    (run / "best.h5").unlink()
    assert evaluate.main(["--run", str(run)]) == 1
    assert "best.h5: no such checkpoint" in capsys.readouterr().err


def test_bad_flags(caption_run, capsys):
    assert evaluate.main(["--run", str(caption_run), "--beam", "0"]) == 1
    assert "--beam 0" in capsys.readouterr().err
    assert evaluate.main(["--run", str(caption_run), "--sample", "-1"]) == 1
    assert "--sample -1" in capsys.readouterr().err
