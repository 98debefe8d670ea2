"""Caption metrics on small cases worked out by hand, the tokenizer, and the
checks of the score() entry point."""
import math

import numpy as np
import pytest

from caption.metrics import bleu, cider_d, perplexity, rouge_l, score, score_per_image, tokenize


def words(sentence):
    return sentence.split()


# --- BLEU ---------------------------------------------------------------------

def test_bleu_hand_computed():
    # hypothesis vs reference, n-grams matched: 5/6, 3/5, 1/4, 0/3; same length.
    ours, _ = bleu([[words("the cat is on the mat")]], [words("the cat sat on the mat")])
    assert ours[0] == pytest.approx(5 / 6, abs=1e-8)
    assert ours[1] == pytest.approx(math.sqrt(5 / 6 * 3 / 5), abs=1e-8)
    assert ours[2] == pytest.approx(0.5, abs=1e-8)       # (1/8) ** (1/3)
    assert ours[3] < 1e-4                                # no 4-gram matches


def test_bleu_of_identical_sentences_is_one():
    ours, per_image = bleu([[words("a red circle above a blue square")]],
                           [words("a red circle above a blue square")])
    np.testing.assert_allclose(ours, 1.0, atol=1e-8)
    np.testing.assert_allclose(per_image, 1.0, atol=1e-8)


def test_bleu_closest_reference_length_ties_to_the_shorter():
    # |h| = 4 is as close to 3 as to 5: the shorter, 3, means no brevity penalty
    # (the longer, 5, would give exp(1 - 5/4)).
    ours, _ = bleu([[words("a b c"), words("a b c d e")]], [words("a b c d")])
    assert ours[0] == pytest.approx(1.0, abs=1e-8)


def test_bleu_brevity_penalty_is_taken_once_for_the_corpus():
    # short hypothesis (2 vs 4) and long one (6 vs 4): c = r = 8, no penalty.
    references = [[words("a b c d")], [words("x y z w")]]
    hypotheses = [words("a b"), words("x y z w u v")]
    ours, per_image = bleu(references, hypotheses)
    assert ours[0] == pytest.approx(6 / 8, abs=1e-8)
    assert per_image[0, 0] == pytest.approx(math.exp(1 - 4 / 2), abs=1e-8)


# --- ROUGE-L ------------------------------------------------------------------

def test_rouge_l_hand_computed():
    # LCS("a red circle", "a big red circle above it") = 3: P = 1, R = 1/2.
    ours, _ = rouge_l([[words("a big red circle above it")]], [words("a red circle")])
    assert ours == pytest.approx((1 + 1.44) * 1 * 0.5 / (0.5 + 1.44 * 1), abs=1e-12)


def test_rouge_l_takes_best_precision_and_best_recall_separately():
    # "a b" gives R = 1 (P = 1/2); the long reference gives P = 1 (R = 1/2).
    ours, _ = rouge_l([[words("a b"), words("a b c d e f g h")]], [words("a b c d")])
    assert ours == pytest.approx(1.0, abs=1e-12)


def test_rouge_l_lcs_skips_words():
    # LCS of "a red circle above a square" and "a circle above the red square" is 4.
    ours, _ = rouge_l([[words("a circle above the red square")]],
                      [words("a red circle above a square")])
    assert ours == pytest.approx(4 / 6, abs=1e-12)
    assert rouge_l([[words("a b")]], [[]])[0] == 0.0


# --- CIDEr-D ------------------------------------------------------------------

def test_cider_d_of_identical_two_word_captions_is_five():
    # idf = log 2 for every n-gram; cosines 1 for n = 1, 2 and 0 for n = 3, 4.
    references = [[words("a b")], [words("c d")]]
    ours, per_image = cider_d(references, [words("a b"), words("c d")])
    assert ours == pytest.approx(10 * (1 + 1 + 0 + 0) / 4, abs=1e-12)
    np.testing.assert_allclose(per_image, 5.0, atol=1e-12)


def test_cider_d_clips_repeated_words_and_penalizes_length():
    # hypothesis "a a b" vs "a b": unigram weights (2l, l) vs (l, l) with l = log 2,
    # clipped dot 2l², cosine 2/√10; bigrams (a a), (a b) vs (a b): 1/√2.
    references = [[words("a b")], [words("c d")]]
    _, per_image = cider_d(references, [words("a a b"), words("c d")])
    expected = 10 * math.exp(-1 / 72) * (2 / math.sqrt(10) + 1 / math.sqrt(2)) / 4
    assert per_image[0] == pytest.approx(expected, abs=1e-12)


def test_cider_d_gives_no_weight_to_ngrams_in_every_image():
    references = [[words("a b")], [words("a c")]]
    _, per_image = cider_d(references, [words("a"), words("a")])
    np.testing.assert_allclose(per_image, 0.0)


# --- perplexity ---------------------------------------------------------------

def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    vocabulary, tokens_per_sentence = 50, np.array([7, 12, 18])
    nll_per_sentence = tokens_per_sentence * math.log(vocabulary)
    assert perplexity(nll_per_sentence, tokens_per_sentence) == pytest.approx(50.0)
    assert perplexity(0.0, 10) == 1.0
    with pytest.raises(ValueError, match="at least one token"):
        perplexity(3.0, 0)


# --- tokenizer ----------------------------------------------------------------

@pytest.mark.parametrize("caption, expected", [
    ("A man (in red) rides a Bike.", "a man -lrb- in red -rrb- rides a bike"),
    ("Two dogs play. One is black!", "two dogs play one is black"),
    ('"Hello," she said; don\'t go -- a cat\'s toy...', "hello she said do n't go a cat 's toy"),
    ("A black-and-white photo: yes?", "a black-and-white photo yes"),
    ("  ", ""),
])
def test_tokenize_follows_the_coco_conventions(caption, expected):
    assert tokenize(caption) == expected.split()


# --- score() ------------------------------------------------------------------

def test_score_tokenizes_strings():
    result = score({"x": ["A Red circle.", "a blue square"]}, {"x": "a red CIRCLE"})
    assert list(result) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]
    assert result["BLEU-1"] == pytest.approx(1.0, abs=1e-8)
    assert result["ROUGE-L"] == pytest.approx(1.0)


def test_score_per_image():
    references = {1: ["a b"], 2: ["c d"]}
    per_image = score_per_image(references, {1: "a b", 2: "c e"})
    assert per_image[1]["CIDEr-D"] == pytest.approx(5.0)
    assert per_image[2]["ROUGE-L"] == pytest.approx(0.5)


def test_score_rejects_mismatched_ids_and_names_them():
    with pytest.raises(ValueError, match=r"without a hypothesis: \[2\]"):
        score({1: ["a b"], 2: ["c d"]}, {1: "a b"})
    with pytest.raises(ValueError, match=r"without references: \['z'\]"):
        score({1: ["a b"]}, {1: "a b", "z": "c"})
    with pytest.raises(ValueError, match="tokenized=True expects token lists"):
        score({1: ["a b"]}, {1: "a b"}, tokenized=True)
    with pytest.raises(ValueError, match="no reference"):
        score({1: []}, {1: "a b"})
