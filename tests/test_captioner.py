"""The caption generator: gradients, decoding, overfitting a few images."""
import itertools

import numpy as np
import pytest

from nnscratch import Tensor, no_grad
from nnscratch.gradcheck import gradcheck
from nnscratch.layers import Module
from nnscratch.optim import Adam
from caption.models.captioner import Captioner
from caption.models.small_cnn import SmallCNN
from caption.models.decoding import beam_search, greedy, largest

V, K = 7, 5          # vocabulary (0 pad, 1 start, 2 end, 3.. words), feature size
START, END = 1, 2
NEVER = (0, 1)       # <pad> and <start> are never generated
SIZES = {"embed_size": 4, "hidden_size": 6}
IDS = np.array([[1, 3, 4, 2, 0], [1, 5, 2, 0, 0], [1, 6, 6, 3, 2]])   # three padded captions


def model(cell="lstm", condition="every", seed=0, **sizes):
    sizes = {**SIZES, **sizes}
    return Captioner(V, K, cell=cell, condition=condition, rng=np.random.default_rng(seed), **sizes)


def attentive(cell="lstm", seed=0, **sizes):
    """A captioner with attention over a one-stage SmallCNN's 4×4 map of 8×8 images."""
    rng = np.random.default_rng(seed)
    cnn = SmallCNN(image_size=8, channels=(3,), feature_size=K, global_max=True, rng=rng)
    sizes = {**SIZES, **sizes}
    return Captioner(V, K, cell=cell, encoder=cnn, attention=3, rng=rng, **sizes)


class CaptionLoss(Module):
    """The masked caption loss of fixed token ids, as a function of the features."""

    def __init__(self, net, ids, mask):
        super().__init__()
        self.net, self.ids, self.mask = net, ids, mask

    def forward(self, features):
        return self.net.loss(features, self.ids, self.mask)


class SharedImageLoss(CaptionLoss):
    """The same loss with each image encoded once and gathered per sentence."""

    def __init__(self, net, ids, mask, image_of_row):
        super().__init__(net, ids, mask)
        self.image_of_row = image_of_row

    def forward(self, features):
        return self.net.loss(features, self.ids, self.mask, self.image_of_row)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("condition", ["init", "first", "every"])
def test_whole_captioner_gradcheck_with_mask(cell, condition):
    rng = np.random.default_rng(1)
    net = model(cell, condition)
    features = rng.standard_normal((3, K))
    ids, mask = IDS, IDS != 0
    # the image-projection ReLU must stay away from its kink during the check
    with no_grad():
        pre = features @ net.image_projection.W.data + net.image_projection.b.data
    assert np.abs(pre).min() > 1e-4
    loss = CaptionLoss(net, ids, mask)   # a Module: gradcheck checks its parameters too
    assert gradcheck(loss, [features], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_captioner_with_attention_gradcheck_with_mask(cell):
    rng = np.random.default_rng(2)
    net = attentive(cell)
    images = rng.standard_normal((2, 3, 8, 8))
    ids, mask = IDS, IDS != 0
    loss = SharedImageLoss(net, ids, mask, np.array([0, 1, 1]))   # the CNN is checked too
    assert gradcheck(loss, [images], rtol=1e-4, atol=1e-6)


@pytest.mark.gpu
def test_the_captioner_with_attention_on_the_gpu_matches_the_cpu():
    from nnscratch.backend import cupy, to_cpu
    rng = np.random.default_rng(3)
    images = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    ids, mask, image_of_row = IDS, IDS != 0, np.array([0, 1, 1])
    results = []
    for xp in (np, cupy):
        net = attentive("lstm")
        if xp is cupy:
            net.to_gpu()
        loss = net.loss(Tensor(xp.asarray(images)), xp.asarray(ids), xp.asarray(mask),
                        xp.asarray(image_of_row), buckets=2)
        loss.backward()
        results.append((loss.item(), [to_cpu(p.grad) for p in net.parameters()]))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    for cpu, gpu in zip(results[0][1], results[1][1]):
        assert np.allclose(gpu, cpu, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("query, rows", [("words", 8), ("word_state", 10)])
def test_attention_is_led_by_the_word_just_read_at_first(query, rows):
    net = attentive("lstm", embed_size=4, hidden_size=6, attention_query=query)
    W = net.attention.query.W.data      # rows: 4 for the word, then 4 for the one before or 6 for h
    assert W.shape == (rows, 3) and np.all(W[4:] == 0) and np.all(W[:4] != 0)
    assert net.attention.centred == (query == "words")


def test_the_query_reads_the_word_before_as_decoding_does():
    """Teacher forcing's α after each word equals the α of decoding those words one at a time."""
    net = attentive("lstm", embed_size=4, hidden_size=6).eval()
    images = Tensor(np.random.default_rng(5).standard_normal((3, 3, 8, 8)).astype(np.float32))
    ids = np.array([[START, 3, 4, 5], [START, 5, 3, 3], [START, 4, 4, 6]])
    with no_grad():
        code = net.encode(images)
        forced = net.attention_weights(code, ids).data
        state = net.start(code)
        for t in range(ids.shape[1]):
            before = state[-1]
            _, state = net.step(code, ids[:, t], state)
            h = Tensor(state[0].data[:, None])
            now = net.embedding(ids[:, t:t + 1])
            stepped = net.attend(h, now, code, Tensor(before.data[:, None]))[1].data[:, 0]
            np.testing.assert_allclose(stepped, forced[:, t], rtol=1e-5, atol=1e-7)


def test_attention_needs_an_encoder_that_gives_regions():
    with pytest.raises(ValueError, match="attention needs"):
        model(attention=3)


def test_sentences_sharing_an_image_equal_repeating_it():
    rng = np.random.default_rng(4)
    net = model("lstm", "every")
    features = rng.standard_normal((2, K))
    ids = IDS
    mask = np.ones_like(ids, dtype=bool)
    image_of_row = np.array([1, 0, 1])
    shared = SharedImageLoss(net, ids, mask, image_of_row)
    repeated = CaptionLoss(net, ids, mask)
    x = Tensor(features, requires_grad=True)
    shared(x).backward()
    gx = x.grad.copy()
    x_rows = Tensor(features[image_of_row], requires_grad=True)
    net.zero_grad()
    value = repeated(x_rows)
    value.backward()
    assert np.isclose(shared(Tensor(features)).item(), value.item())
    expected = np.zeros_like(features)
    np.add.at(expected, image_of_row, x_rows.grad)
    assert np.allclose(gx, expected)
    assert gradcheck(shared, [features], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("buckets", [2, 3, 7])
def test_length_buckets_give_the_same_loss_and_gradients(buckets):
    rng = np.random.default_rng(5)
    net = model("lstm", "every")
    features = Tensor(rng.standard_normal((3, K)))
    ids = np.array([[1, 3, 4, 2, 0, 0], [1, 5, 2, 0, 0, 0], [1, 6, 6, 3, 4, 2],
                    [1, 4, 2, 0, 0, 0], [1, 3, 3, 5, 2, 0]])
    mask = np.zeros_like(ids, dtype=bool)
    for row, length in enumerate([5, 3, 6, 3, 5]):
        mask[row, :length] = True
    image_of_row = np.array([0, 2, 1, 0, 2])
    results = []
    for b in (1, buckets):
        net.zero_grad()
        value = net.loss(features, ids, mask, image_of_row, buckets=b)
        value.backward()
        results.append((value.item(), [p.grad.copy() for p in net.parameters()]))
    assert np.isclose(results[0][0], results[1][0], rtol=1e-6)
    for one, many in zip(results[0][1], results[1][1]):
        assert np.allclose(one, many, rtol=1e-5, atol=1e-7)


def random_model_and_images(cell, seed=3, n=4, attention=False):
    """A model (with attention: over a SmallCNN of 8×8 images) and n random inputs."""
    make = attentive if attention else model
    net = make(cell, seed=seed, embed_size=8, hidden_size=12)
    for p in net.parameters():  # a peaked model, so decoding choices are clear-cut
        p.data *= 3
    shape = (n, 3, 8, 8) if attention else (n, K)
    images = Tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))
    return net, images


@pytest.mark.parametrize("k", [1, 3, 7, 24, 30])
def test_largest_is_the_head_of_a_stable_sort(k):
    rng = np.random.default_rng(k)
    values = rng.integers(0, 5, size=(4, 6)).astype(np.float32)   # many ties
    values[0, :2] = -np.inf
    expected = np.argsort(-values, axis=None, kind="stable")[:k]
    np.testing.assert_array_equal(largest(values, k), expected)


@pytest.mark.parametrize("attention", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_greedy_equals_beam_of_one(cell, attention):
    net, images = random_model_and_images(cell, attention=attention)
    batch = greedy(net, images, START, END, max_len=6, never=NEVER)
    for i, hyp in enumerate(batch):
        ((best,),) = beam_search(net, Tensor(images.data[i:i + 1]), START, END, beam=1,
                                 max_len=6, never=NEVER)
        assert best.ids == hyp.ids
        assert best.logprob == pytest.approx(hyp.logprob, rel=1e-5)


def sequence_logprob(net, image, words, max_len):
    """log p(words, <end>) under teacher forcing (without <end> when cut at max_len)."""
    ids = np.array([[START, *words]])
    with no_grad():
        logits = net(image, ids)
        logp = logits.data - np.log(np.exp(logits.data).sum(-1, keepdims=True))
    targets = words + ([END] if len(words) < max_len else [])
    return sum(logp[0, t, w] for t, w in enumerate(targets)), len(targets)


@pytest.mark.parametrize("attention", [False, True])
def test_beam_search_finds_the_best_sequence_by_enumeration(attention):
    net, images = random_model_and_images("lstm", seed=5, n=2, attention=attention)
    max_len, words = 3, list(range(3, V))
    for i in range(2):
        image = Tensor(images.data[i:i + 1])
        scored = []
        for length in range(0, max_len + 1):
            for seq in itertools.product(words, repeat=length):
                logprob, n = sequence_logprob(net, image, list(seq), max_len)
                scored.append((logprob / n, list(seq)))
        best_score, best_seq = max(scored)
        (found,) = beam_search(net, image, START, END, beam=len(words) ** max_len + 1,
                               max_len=max_len, never=NEVER)[0][:1]
        assert found.ids == best_seq
        assert found.score == pytest.approx(best_score, rel=1e-4)


@pytest.mark.parametrize("attention", [False, True])
def test_images_decoded_together_get_the_beams_they_get_alone(attention):
    net, images = random_model_and_images("lstm", seed=3, n=5, attention=attention)
    together = beam_search(net, images, START, END, beam=3, max_len=6, never=NEVER)
    assert len(together) == 5
    for i, hyps in enumerate(together):
        (alone,) = beam_search(net, Tensor(images.data[i:i + 1]), START, END, beam=3,
                               max_len=6, never=NEVER)
        assert [h.ids for h in hyps] == [h.ids for h in alone]
        assert [h.logprob for h in hyps] == pytest.approx([h.logprob for h in alone], rel=1e-5)
        assert len(hyps) == 3 and hyps[0].score >= hyps[-1].score


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_tiny_model_learns_four_images_by_heart(cell):
    rng = np.random.default_rng(0)
    features = Tensor(rng.standard_normal((4, K)).astype(np.float32))
    captions = [[3, 4], [5, 6, 3], [4, 4, 5], [6]]
    ids = np.zeros((4, 5), dtype=np.int64)
    mask = np.zeros((4, 5), dtype=bool)
    for row, words in enumerate(captions):
        ids[row, :len(words) + 2] = [START, *words, END]
        mask[row, :len(words) + 2] = True
    net = model(cell, embed_size=16, hidden_size=32)
    optimizer = Adam(net.parameters(), lr=0.02)
    net.train()
    for _ in range(300):
        loss = net.loss(features, ids, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert [h.ids for h in greedy(net, features, START, END, max_len=6, never=NEVER)] == captions


@pytest.mark.parametrize("bad,message", [({"cell": "gru"}, "cell must be"),
                                         ({"condition": "late"}, "condition must be")])
def test_bad_settings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        model(**bad)


def test_the_length_penalty_orders_the_beam():
    from caption.models.decoding import Hypothesis
    short, long = Hypothesis([5], -3.0, 2), Hypothesis([5, 6, 7, 8, 9], -6.0, 6)
    assert (short.score, long.score) == (-1.5, -1.0)                    # the mean per word
    for h in (short, long):
        h.length_alpha = 0.0                                             # log p itself
    assert short.score > long.score
    for h in (short, long):
        h.length_alpha = 0.5                                             # Wu et al. 2016
    assert np.isclose(short.score, -3.0 / (7 / 6) ** 0.5)
    assert np.isclose(long.score, -6.0 / (11 / 6) ** 0.5)
    net = model("lstm", "every")
    images = Tensor(np.random.default_rng(6).standard_normal((2, K)).astype(np.float32))
    for alpha in (None, 0.0, 0.5):
        for hyps in beam_search(net, images, START, END, beam=3, max_len=6, never=NEVER,
                                length_alpha=alpha):
            assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
            assert all(h.length_alpha == alpha for h in hyps)
