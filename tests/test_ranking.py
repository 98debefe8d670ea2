"""The image–sentence ranking model (eq. 3.3–3.6 of the thesis) and its task:
the whole loss against a slow reference, gradient checks of the whole model,
overfitting a batch, the batches and the evaluation, and the command line.

The recall functions themselves are tested in test_metrics_retrieval.py, the
bare loss F.ranking_loss against a double loop in test_ops_loss.py, and the
weight decay as the gradient of λ‖θ‖² in test_optim.py.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from caption.data.batching import pad_batch
from caption.data.features import write_features
from caption.data.karpathy import load_karpathy
from caption.data.shapes import build_shapes
from caption.data.vocab import Vocabulary
from caption.metrics.retrieval import retrieval_metrics
from caption.models.ranker import Ranker, sentence_words
from caption.training.tasks.rank import RankTask, flatten
from nnscratch import Tensor, no_grad
from nnscratch.gradcheck import gradcheck
from nnscratch.layers import Module
from nnscratch.optim import Adam

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [("bow", "sum"), ("rnn", "last"), ("rnn", "sum")]


def random_sentences(rng, count, vocab_size, lengths=(1, 6)):
    """``count`` sentences of word ids in [4, vocab_size) (after the special words)."""
    return [rng.integers(4, vocab_size, rng.integers(*lengths, endpoint=True)).tolist()
            for _ in range(count)]


def words_and_mask(sentences):
    vocab = Vocabulary(["<pad>", "<start>", "<end>", "<unk>"])
    return sentence_words(*pad_batch(sentences, vocab))


# -- the reading of batching's rows --------------------------------------------

def test_sentence_words_drops_start_end_and_padding():
    words, mask = words_and_mask([[7, 8, 9], [5]])
    np.testing.assert_array_equal(words[mask], [7, 8, 9, 5])
    np.testing.assert_array_equal(mask, [[True, True, True], [True, False, False]])


# -- the model against a slow reference ------------------------------------------

def reference_scores(model, features, sentences):
    """S_kl = v_kᵀ s_l with eq. 3.3–3.5 written as loops over sentences and words."""
    p = {name: param.data for name, param in model.named_parameters()}
    v = features @ p["image_projection/W"] + p["image_projection/b"]           # eq. 3.3
    s = []
    for ids in sentences:
        e = p["embedding/W"][ids]
        if model.encoder == "bow":
            s.append(e.sum(axis=0))                                             # eq. 3.4
            continue
        h, states = np.zeros(e.shape[1]), []
        for e_t in e:                                                           # eq. 3.5
            h = np.maximum(0, p["recurrent/Wh"].T @ h + p["recurrent/Wx"].T @ e_t + p["recurrent/b"])
            states.append(h)
        s.append(states[-1] if model.pooling == "last" else np.sum(states, axis=0))
    return v @ np.array(s).T


def reference_loss(S, margin):
    """Eq. 3.6 over all pairs k ≠ l, one hinge at a time."""
    loss = 0.0
    for k in range(len(S)):
        for l in range(len(S)):
            if l != k:
                loss += max(0.0, S[k, l] - S[k, k] + margin) + max(0.0, S[l, k] - S[k, k] + margin)
    return loss


@pytest.mark.parametrize("encoder, pooling", VARIANTS)
def test_scores_and_loss_equal_the_slow_reference(encoder, pooling):
    rng = np.random.default_rng(1)
    model = Ranker(12, 5, embed_size=4, encoder=encoder, pooling=pooling, margin=0.5, rng=rng)
    features = rng.standard_normal((6, 5)).astype(np.float32)
    sentences = random_sentences(rng, 6, 12)
    words, mask = words_and_mask(sentences)
    S = reference_scores(model, features.astype(np.float64), sentences)
    np.testing.assert_allclose(model(features, words, mask).data, S, rtol=1e-4, atol=1e-4)
    loss = model.loss(features, words, mask).item()
    assert reference_loss(S, 0.5) > 0
    np.testing.assert_allclose(loss, reference_loss(S, 0.5), rtol=1e-4)


def test_cosine_scores_are_the_dot_product_of_unit_vectors():
    rng = np.random.default_rng(2)
    dot = Ranker(12, 5, embed_size=4, rng=np.random.default_rng(3))
    cosine = Ranker(12, 5, embed_size=4, scores="cosine", margin=0.2, rng=np.random.default_rng(3))
    features = rng.standard_normal((6, 5)).astype(np.float32)
    words, mask = words_and_mask(random_sentences(rng, 6, 12))
    S = dot(features, words, mask).data
    v = dot.encode_images(features).data
    s = dot.encode_sentences(words, mask).data
    lengths = np.outer(np.linalg.norm(v, axis=1), np.linalg.norm(s, axis=1))
    np.testing.assert_allclose(cosine(features, words, mask).data, S / lengths, rtol=1e-5)
    assert np.abs(cosine(features, words, mask).data).max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="scores must be one of"):
        Ranker(12, 5, scores="euclid")


def test_last_and_sum_pooling_differ_and_padding_is_ignored():
    sentences = [[5, 6, 7], [8]]
    last = Ranker(10, 3, embed_size=4, pooling="last", rng=np.random.default_rng(0))
    total = Ranker(10, 3, embed_size=4, pooling="sum", rng=np.random.default_rng(0))
    words, mask = words_and_mask(sentences)
    alone, alone_mask = words_and_mask(sentences[1:])
    s_last = last.encode_sentences(words, mask).data
    np.testing.assert_allclose(s_last[1], last.encode_sentences(alone, alone_mask).data[0], rtol=1e-6)
    assert not np.allclose(s_last[0], total.encode_sentences(words, mask).data[0])


def test_bad_settings_and_shapes_raise():
    with pytest.raises(ValueError, match="encoder"):
        Ranker(10, 3, encoder="lstm")
    with pytest.raises(ValueError, match="pooling"):
        Ranker(10, 3, pooling="max")
    model = Ranker(10, 3, embed_size=4, rng=np.random.default_rng(0))
    words, mask = words_and_mask([[5], [6]])
    with pytest.raises(ValueError, match="3 images but 2 sentences"):
        model.loss(np.zeros((3, 3), np.float32), words, mask)


# -- gradient check of the whole model (float64) -----------------------------------

class RankerOutput(Module):
    """features -> the model's scores and loss on fixed sentences, for gradcheck
    (which also checks the parameters of a Module it is given)."""

    def __init__(self, model, words, mask):
        super().__init__()
        self.model, self.words, self.mask = model, words, mask

    def forward(self, features):
        S = self.model(features, self.words, self.mask)
        return S, self.model.loss(features, self.words, self.mask)


@pytest.mark.parametrize("encoder, pooling", VARIANTS)
def test_gradcheck_whole_model(encoder, pooling):
    rng = np.random.default_rng(3)
    model = Ranker(9, 4, embed_size=3, encoder=encoder, pooling=pooling, rng=rng)
    words, mask = words_and_mask(random_sentences(rng, 4, 9, lengths=(1, 4)))
    features = rng.standard_normal((4, 4))
    loss = model.loss(features, words, mask).item()
    assert 0 < loss                                 # some hinges are active
    gradcheck(RankerOutput(model, words, mask), [features], rtol=1e-4, atol=1e-6)


# -- learning ---------------------------------------------------------------------

@pytest.mark.parametrize("encoder", ["bow", "rnn"])
def test_overfits_a_batch_of_eight_pairs(encoder):
    rng = np.random.default_rng(4)
    model = Ranker(20, 16, embed_size=32, encoder=encoder, rng=rng)
    features = rng.standard_normal((8, 16)).astype(np.float32)
    words, mask = words_and_mask(random_sentences(rng, 8, 20, lengths=(3, 6)))
    optimizer = Adam(model.parameters(), lr=1e-2)
    before = retrieval_metrics(model(features, words, mask).data, np.arange(8))
    for _ in range(100):
        loss = model.loss(features, words, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() == 0.0
    with no_grad():
        after = retrieval_metrics(model(features, words, mask).data, np.arange(8))
    assert before["annotation"]["R@1"] < 100 or before["search"]["R@1"] < 100
    assert after["annotation"]["R@1"] == after["search"]["R@1"] == 100.0


# -- batches and evaluation on a tiny shapes set ---------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A shapes set of 24/6/6 images and random 8-d features, written to disk."""
    root = tmp_path_factory.mktemp("rank")
    json_path = build_shapes(root / "set", 0, 24, 6, 6)
    dataset = load_karpathy(json_path, root / "set" / "images")
    features = np.random.default_rng(0).standard_normal((len(dataset.images), 8))
    write_features(root / "features.h5", features, [image.imgid for image in dataset.images])
    return root, json_path, dataset, features.astype(np.float32)


@pytest.mark.parametrize("all_sentences", [False, True])
def test_batches_never_hold_an_image_twice(tiny, all_sentences):
    _, _, dataset, features = tiny
    task = make_task(dataset, features, all_sentences=all_sentences)
    batches = task.batches(np.random.default_rng(0))
    seen = []
    for batch in batches:
        assert len(set(batch.image_indices.tolist())) == len(batch.image_indices) <= 5
        words, mask = sentence_words(batch.tokens, batch.mask)
        seen += [(i, tuple(w[m])) for i, w, m in zip(batch.image_indices, words, mask)]
    encoded = task.encoded["train"]
    if all_sentences:
        expected = [(i, tuple(s)) for i, sentences in enumerate(encoded) for s in sentences]
        assert sorted(seen) == sorted(expected)
    else:
        assert sorted(i for i, _ in seen) == list(range(len(encoded)))
        assert all(list(ids) in encoded[i] for i, ids in seen)


def make_task(dataset, features, encoder="rnn", all_sentences=False):
    vocab = Vocabulary.build((t for image in dataset.split("train") for t in image.tokens), 1)
    config = {"embed_size": 6, "encoder": encoder, "pooling": "sum", "margin": 1.0, "scores": "dot", "seed": 0,
              "batch_size": 5, "all_sentences": all_sentences, "device": "cpu"}
    inputs = {split: features[[im.imgid for im in dataset.split(split)]]
              for split in ("train", "val", "test")}
    rng = np.random.default_rng(0)
    model = RankTask.build_model(config, vocab, features.shape[1], rng)
    return RankTask(config, dataset, vocab, inputs, model, rng)


def test_evaluation_scores_every_image_against_every_sentence(tiny):
    _, _, dataset, features = tiny
    task = make_task(dataset, features)
    v, s, image_of = task.embed_split("val")
    assert v.shape == (6, 6) and s.shape == (30, 6)
    np.testing.assert_array_equal(image_of, np.repeat(np.arange(6), 5))
    # the chunked evaluation agrees with the model's own scores on each pair
    sentences = [ids for per_image in task.encoded["val"] for ids in per_image]
    words, mask = words_and_mask(sentences)
    direct = task.model(task.inputs["val"][image_of], words, mask).data
    np.testing.assert_allclose((v @ s.T)[image_of, np.arange(30)], np.diag(direct), rtol=1e-4, atol=1e-5)
    flat = task.evaluate("val")
    nested = retrieval_metrics(v @ s.T, image_of)
    assert flat == flatten(nested)
    assert flat["R@sum"] == pytest.approx(sum(nested[d][f"R@{k}"] for d in ("annotation", "search")
                                              for k in (1, 5, 10)))


# -- the command line ----------------------------------------------------------------

def test_train_rank_from_the_command_line(tiny, tmp_path):
    root, json_path, dataset, _ = tiny
    out, squeezenet_sized = tmp_path / "run", tmp_path / "features.h5"   # 512-d, as --cnn says
    write_features(squeezenet_sized, np.random.default_rng(1).random((len(dataset.images), 512)),
                   [image.imgid for image in dataset.images])
    command = [sys.executable, "-m", "caption.train", "--task", "rank", "--data", str(json_path),
               "--features", str(squeezenet_sized), "--epochs", "2", "--batch-size", "6",
               "--embed-size", "8", "--min-count", "1", "--out", str(out), "--quiet"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    keys = {"R@1", "R@5", "R@10", "median_rank"}
    results = [metrics, metrics["baselines"]["untrained"], metrics["baselines"]["bag of words"]]
    for result in results:
        for direction in ("annotation", "search"):
            assert set(result[direction]) == keys
            assert all(0 <= result[direction][f"R@{k}"] <= 100 for k in (1, 5, 10))
            assert 1 <= result[direction]["median_rank"] <= 30
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in log] == [1, 2]
    assert all("R@sum" in record and "search R@10" in record for record in log)
    assert (out / "best.h5").exists() and json.loads((out / "config.json").read_text())["task"] == "rank"


def test_tensor_inputs_are_accepted():
    model = Ranker(10, 3, embed_size=4, rng=np.random.default_rng(0))
    words, mask = words_and_mask([[5, 6], [7]])
    S = model(Tensor(np.ones((2, 3), np.float32)), Tensor(words), Tensor(mask))
    assert S.shape == (2, 2)
