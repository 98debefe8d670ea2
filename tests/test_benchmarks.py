"""The benchmark scripts keep running: ``python -m benchmarks --quick`` (tiny
shapes, one repetition) in a subprocess, and the tables it prints."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import floor
from benchmarks.__main__ import SUBJECTS
from benchmarks.floor import Products
from benchmarks.load import busy_processes
from benchmarks.midrun import PHASES, measure
from benchmarks.timing import Row, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_covers_every_subject(tmp_path):
    out = tmp_path / "cpu.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["subjects"]) == set(SUBJECTS)
    for subject, result in results["subjects"].items():
        assert result["rows"], subject
        for row in result["rows"]:
            assert row["ours"] > 0 and row["theirs"] > 0, row
            assert math.isclose(row["ratio"], row["ours"] / row["theirs"])
    assert results["machine"]["cores"] >= 1 and results["machine"]["numpy_blas"]
    assert done.stdout.count("| case | ours (") == len(SUBJECTS)


def test_the_midrun_child_steps_the_model_with_attention_too():
    times, record = measure("follow", 0.5, quick=True, busy=False, attention=True)
    assert all(len(times[phase]) >= 1 for phase in PHASES)
    assert all(seconds > 0 for phase in PHASES for seconds in times[phase])
    assert record["policy"] == "follow"


def test_table_marks_a_missed_target():
    rows = [Row("conv2d", "fast", 10.0, 20.0, target=1.3),
            Row("conv2d", "slow", 30.0, 20.0, target=1.3)]
    table = markdown_table("conv2d", rows).splitlines()
    assert table[4] == "| fast | 10.0 | PyTorch | 20.0 | 0.50 | ≤ 1.3 |"
    assert table[5] == "| slow | 30.0 | PyTorch | 20.0 | 1.50 | ≤ 1.3 (missed) |"


def test_table_with_a_floor_adds_its_columns():
    rows = [Row("flickr8k", "step", 30.0, 20.0, target=1.0, floor=15.0, floor_target=1.5),
            Row("flickr8k", "no floor", 10.0, 20.0)]
    table = markdown_table("step", rows).splitlines()
    assert table[2].endswith("| floor (ms) | ours / floor | target |")
    assert table[4] == "| step | 30.0 | PyTorch | 20.0 | 1.50 | ≤ 1 (missed) | 15.0 | 2.00 | ≤ 1.5 (missed) |"
    assert table[5] == "| no floor | 10.0 | PyTorch | 20.0 | 0.50 |  | | | |"


def test_floor_runs_the_products_it_lists():
    products = Products(floor.linear(3, 5, 7, backward=True))
    assert products.shapes == [(3, 5, 7), (3, 7, 5), (5, 3, 7)]
    assert products.flops == 3 * 2 * 3 * 5 * 7
    products()
    a, b, out = products.operands[3, 5, 7]
    np.testing.assert_allclose(out, a @ b, rtol=1e-6)


def test_busy_processes_run_only_inside_the_block():
    with busy_processes(1) as children:
        assert len(children) == 1 and children[0].poll() is None
    assert children[0].poll() is not None


def test_threads_flag_sets_numpys_blas_threads(tmp_path):
    out = tmp_path / "cpu.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "linear", "--quick", "--threads",
                           "2", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(out.read_text())["blas_threads"] == 2
    assert "- NumPy's BLAS threads: 2" in done.stdout
    refused = subprocess.run([sys.executable, "-m", "benchmarks", "--threads", "0"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--threads must be a number of 1 or more" in refused.stderr


def test_table_with_items_adds_the_rates():
    rows = [Row("decode", "greedy", 500.0, 250.0, items=1000, item="img"),
            Row("decode", "no items", 10.0, 20.0)]
    table = markdown_table("decode", rows).splitlines()
    assert table[2].endswith("| ours (img/s) | theirs (img/s) |")
    assert table[4] == "| greedy | 500.0 | PyTorch | 250.0 | 2.00 |  | 2000.0 | 4000.0 |"
    assert table[5] == "| no items | 10.0 | PyTorch | 20.0 | 0.50 |  | | |"


def test_the_pytorch_twin_decodes_our_sentences():
    torch = pytest.importorskip("torch")
    from benchmarks import decode, torch_models
    from caption.models.captioner import Captioner
    from caption.models.decoding import beam_search
    from nnscratch import Tensor

    model = Captioner(30, 12, embed_size=8, hidden_size=16, rng=np.random.default_rng(1)).eval()
    decode.add_clock(model)
    twin = decode.twin_of(model)
    features = np.random.default_rng(2).standard_normal((7, 12), dtype=np.float32)
    for beam in (1, 3):
        ours = decode.decode_ours(model, features, beam, 3)
        assert decode.decode_twin(twin, features, beam, 3) == ours
        assert len({len(s) for s in ours}) > 1   # the clock lets sentences end at different words
    for max_len in (decode.MAX_WORDS, 4):   # 4: some sentences are cut, unfinished
        hyps = beam_search(model, Tensor(features), decode.START, decode.END, 3, max_len,
                           decode.NEVER)
        words, scores = torch_models.beam_search(twin, torch.from_numpy(features), decode.START,
                                                 decode.END, 3, max_len, decode.NEVER)
        for ours, theirs, their_scores in zip(hyps, words.tolist(), scores):
            assert [h.ids for h in ours] == [decode.sentence(w) for w in theirs]
            np.testing.assert_allclose([h.score for h in ours], their_scores, rtol=1e-5)


def test_the_pytorch_twin_with_attention_has_our_loss_and_gradients():
    torch = pytest.importorskip("torch")
    from benchmarks import decode, flickr8k
    from caption.models.captioner import Captioner
    from caption.models.precomputed import PrecomputedRegions
    from nnscratch import Tensor

    rng = np.random.default_rng(3)
    model = Captioner(30, 12, embed_size=8, hidden_size=16, encoder=PrecomputedRegions(12, 6, 2.5),
                      attention=5, attention_query="words", rng=rng)
    model.attention.query.W.data[...] = rng.standard_normal((16, 5))  # x_{t-1} counts too
    twin = decode.twin_of(model)
    vectors, ids, mask, image_of_row = flickr8k.batch(3, 5, 30, seed=4, features=12)
    regions = np.abs(rng.standard_normal((3, 7, 6), dtype=np.float32))
    ours = model.loss((Tensor(vectors), Tensor(regions)), ids, mask, image_of_row, buckets=2)
    ours.backward()
    theirs = twin.loss(*(torch.from_numpy(a) for a in (vectors, ids, mask.astype(np.float32),
                                                        image_of_row)), 2, torch.from_numpy(regions))
    theirs.backward()
    np.testing.assert_allclose(float(ours.data), theirs.item(), rtol=1e-5)
    for mine, its in ((model.attention.query.W, twin.query.weight),
                      (model.attention.key.W, twin.key.weight),
                      (model.output.W, twin.output.weight)):
        np.testing.assert_allclose(mine.grad, its.grad.numpy().T, rtol=1e-4, atol=1e-6)


def test_the_pytorch_squeezenet_holds_our_weights():
    torch = pytest.importorskip("torch")
    from benchmarks import torch_models
    from caption.cnn import build
    from nnscratch import no_grad

    net = build("squeezenet", weights=False, rng=np.random.default_rng(5))
    twin = torch_models.holding(torch_models.squeezenet(), net)
    x = np.random.default_rng(6).standard_normal((1, 3, 227, 227), dtype=np.float32)
    with no_grad():
        ours = net.fire_maps(x).data
    with torch.no_grad():
        theirs = torch_models.fire_maps(twin)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(ours).max())


def test_extraction_without_flickr8k_generates_jpegs_of_its_size(tmp_path):
    from benchmarks import extract
    from PIL import Image

    paths, source = extract.jpegs(3, tmp_path, shared=tmp_path / "absent")
    assert len(paths) == 3 and "generated" in source
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.size == (extract.SIDE, extract.SIDE)


def test_cpu_time_flag_times_one_thread_each(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "cpu.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "linear", "--quick", "--cpu-time",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["settings"]["clock"] == "cpu" and results["blas_threads"] == 1
    assert results["machine"]["torch_threads"] == 1
    assert "- clock: CPU time of the process" in done.stdout
    refused = subprocess.run([sys.executable, "-m", "benchmarks", "--cpu-time", "--threads", "2"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--cpu-time runs one thread each" in refused.stderr
