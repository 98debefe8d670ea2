"""caption.data.tokenize, caption.data.vocab and caption.data.batching."""
import numpy as np
import pytest

from caption.data.batching import encode_captions, iterate_batches, pad_batch
from caption.data.karpathy import Image
from caption.data.tokenize import tokenize
from caption.data.vocab import Vocabulary

SENTENCES = [["a", "dog", "runs"], ["a", "dog", "sits"], ["a", "cat", "runs"],
             ["the", "dog"], ["a", "bird"]]


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize('A Dog\'s "ball", isn\'t it -- (red)?') == \
        ["a", "dog", "'s", "ball", "is", "n't", "it", "red"]
    assert tokenize("  ...  ") == []


def test_vocabulary_threshold_order_and_specials():
    vocab = Vocabulary.build(SENTENCES, min_count=2)
    # a: 4, dog: 3, runs: 2; ties would go alphabetically; cat, sits, the, bird dropped
    assert vocab.words == ["<pad>", "<start>", "<end>", "<unk>", "a", "dog", "runs"]
    assert (vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unk_id) == (0, 1, 2, 3)
    assert vocab.encode(["a", "cat", "runs"]) == [4, 3, 6]
    assert vocab.decode([1, 4, 5, 6, 2, 5, 0]) == ["a", "dog", "runs"]
    assert vocab.decode([4, 0, 0]) == ["a"]
    assert len(Vocabulary.build(SENTENCES, min_count=1)) == 4 + 7
    assert Vocabulary.build(list(reversed(SENTENCES)), 2) == vocab


def test_vocabulary_default_min_count_is_5():
    vocab = Vocabulary.build([["x"]] * 5 + [["y"]] * 4)
    assert vocab.min_count == 5 and "x" in vocab and "y" not in vocab


def test_vocabulary_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build(SENTENCES + [["ñandú", "über"]] * 2, min_count=2)
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocab and loaded.words == vocab.words and loaded.min_count == 2
    assert loaded.encode(["ñandú", "zzz"]) == vocab.encode(["ñandú", "zzz"])


def test_vocabulary_bad_files(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json: cannot read a vocabulary"):
        Vocabulary.load(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text('{"words": []}')
    with pytest.raises(ValueError, match="other.json: not a vocabulary file"):
        Vocabulary.load(tmp_path / "other.json")
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a", "b"])


def make_images(n=10, seed=0):
    """n images with 2 to 5 sentences of 1 to 7 words each."""
    rng = np.random.default_rng(seed)
    words = ["a", "dog", "cat", "runs", "red", "ball"]
    images = []
    for i in range(n):
        tokens = [[words[j] for j in rng.integers(0, len(words), rng.integers(1, 8))]
                  for _ in range(rng.integers(2, 6))]
        images.append(Image(f"{i}.jpg", f"{i}.jpg", i, "train", tokens,
                            [" ".join(t) for t in tokens], list(range(len(tokens)))))
    return images


def test_pad_batch_layout():
    vocab = Vocabulary.build(SENTENCES, min_count=2)
    tokens, mask = pad_batch([[4, 5, 6], [5]], vocab)
    np.testing.assert_array_equal(tokens, [[1, 4, 5, 6, 2], [1, 5, 2, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert tokens.dtype == np.int64 and mask.dtype == bool


def epoch(encoded, vocab, seed, **options):
    return list(iterate_batches(encoded, vocab, 4, np.random.default_rng(seed), **options))


def test_batches_are_deterministic_and_resumable():
    images = make_images()
    vocab = Vocabulary.build([t for im in images for t in im.tokens], min_count=1)
    encoded = encode_captions(images, vocab)
    first, again, other = epoch(encoded, vocab, 7), epoch(encoded, vocab, 7), epoch(encoded, vocab, 8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.tokens, b.tokens)
        np.testing.assert_array_equal(a.image_indices, b.image_indices)
    assert any(not np.array_equal(a.image_indices, b.image_indices) for a, b in zip(first, other))
    # a resumed run restores the generator state and gets the same next epoch
    rng = np.random.default_rng(3)
    list(iterate_batches(encoded, vocab, 4, rng))
    saved = rng.bit_generator.state
    expected = [b.tokens for b in iterate_batches(encoded, vocab, 4, rng)]
    resumed = np.random.default_rng(0)
    resumed.bit_generator.state = saved
    for a, b in zip(expected, (b.tokens for b in iterate_batches(encoded, vocab, 4, resumed))):
        np.testing.assert_array_equal(a, b)


def test_one_sentence_per_image_per_epoch():
    images = make_images()
    vocab = Vocabulary.build([t for im in images for t in im.tokens], min_count=1)
    encoded = encode_captions(images, vocab)
    batches = epoch(encoded, vocab, 0)
    assert [len(b.image_indices) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b.image_indices for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    for batch in batches:
        for row, i in enumerate(batch.image_indices):
            length = int(batch.mask[row].sum())
            ids = batch.tokens[row, :length].tolist()
            assert ids[0] == vocab.start_id and ids[-1] == vocab.end_id
            assert ids[1:-1] in encoded[i]                 # one of that image's sentences
            assert not batch.mask[row, length:].any()
            assert (batch.tokens[row, length:] == vocab.pad_id).all()
        assert batch.mask[:, -1].any()                     # padded to the batch's longest
    assert len(epoch(encoded, vocab, 0, drop_last=True)) == 2


def test_all_sentences_batches_hold_whole_images():
    images = make_images()
    vocab = Vocabulary.build([t for im in images for t in im.tokens], min_count=1)
    seen = []
    for batch in epoch(encode_captions(images, vocab), vocab, 2, all_sentences=True):
        distinct = list(dict.fromkeys(batch.image_indices.tolist()))
        assert len(distinct) <= 4                          # batch_size counts images
        for i in distinct:                                 # each with all its sentences, together
            rows = np.flatnonzero(batch.image_indices == i)
            assert len(rows) == len(images[i].tokens)
            assert (np.diff(rows) == 1).all()
        seen += distinct
    assert sorted(seen) == list(range(len(images)))


def test_all_sentences_and_max_length():
    images = make_images()
    vocab = Vocabulary.build([t for im in images for t in im.tokens], min_count=1)
    total = sum(len(im.tokens) for im in images)
    pairs = [(int(i), tuple(t[m].tolist())) for b in epoch(encode_captions(images, vocab), vocab, 1,
                                                       all_sentences=True)
             for i, t, m in zip(b.image_indices, b.tokens, b.mask)]
    assert len(pairs) == total
    expected = sorted((i, (1, *vocab.encode(t), 2)) for i, im in enumerate(images) for t in im.tokens)
    assert sorted(pairs) == expected
    short = epoch(encode_captions(images, vocab, max_length=3), vocab, 1, all_sentences=True)
    assert max(b.tokens.shape[1] for b in short) == 3 + 2
    with pytest.raises(ValueError, match="max_length"):
        encode_captions(images, vocab, max_length=0)
