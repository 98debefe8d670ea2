"""The caption generator (thesis §3.7; Vinyals et al. 2015, Karpathy & Fei-Fei 2015).

An image-conditioned recurrent language model: the image's feature vector
(from a frozen pretrained CNN, or from a small CNN trained jointly) is
projected to a vector v, and a vanilla RNN or an LSTM reads the caption one
word at a time and predicts the next,

    p(w_{t+1} | w_1..w_t, I) = softmax(W_o h_t + b_o),

trained on the negative log-likelihood of the reference captions (eq. 3.2),
averaged over the real (unpadded) words. Shapes: N batch, T time steps,
V vocabulary, E word-embedding size, H hidden size, K image-feature size.

How the image enters (``condition``):
    "init"   v sets the initial hidden state, h_0 = tanh(v)
    "first"  v is the input of an extra first step, before <start>
    "every"  v is concatenated to the word embedding at every step
(measured on the shapes set, "every" learns at once where "init" does not).

With ``attention``, the next word is read out of the hidden state *and* of
the image region that the last words point at (an extension beyond the
thesis, see nnscratch/layers/attention.py). The regions come from the
encoder's ``regions``: the small CNN's last map, trained jointly, or a
frozen pretrained CNN's 14 × 14 map, precomputed (Xu et al. 2015's soft
attention; caption/models/precomputed.py). One model reads either. With
``attention_query`` "words" (the default), the query is [x_t ; x_{t-1}],
the embeddings of the word just read and of the one before it (x_0's
"before" is zeros): in "a small white circle", "white" after "small", so
that of two white objects the small one is found. Over the CNN's last
feature map, regions R (N, L, C), with r̄ their mean,

    c_t = Σ_l α_tl r_l − r̄,   α_t = softmax_l(([x_t ; x_{t-1}] W_q) · (r_l W_k)),
    p(w_{t+1} | w_1..w_t, I) = softmax(W_o [h_t ; c_t] + b_o),

so that the shape named after a colour is read where that colour is. The
rows of W_q that read x_{t-1} start at zero: the word just read leads; W_k
starts small (``KEY_SCALE``), so that α starts nearly uniform. The context
is taken relative to the mean region, so that a look spread over
the whole picture says nothing: the whole picture is v's to tell, and the
read-out cannot come to lean on a spread α as a second whole-picture vector
(docs/experiments.md has the runs that chose all three).

``attention_query`` "word_state" is the design of the runs saved before it
(issue 16): the query [x_t ; h_t], the word and the state after it, with the
rows of W_q that read h_t at zero, and c_t = Σ_l α_tl r_l. Its attention
formed for some colours and not others, varying from run to run.

``step`` advances the recurrence by one word with the layer's own
``rnn_step``/``lstm_step``: teacher forcing and decoding share the math.
"""
from dataclasses import dataclass

import numpy as np

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.backend import get_array_module, to_cpu
from nnscratch.layers import LSTM, RNN, Attention, Dropout, Embedding, Linear, Module

CONDITIONS = ("init", "first", "every")
ATTENTION_QUERIES = ("words", "word_state")
# W_k starts at this fraction of its He-normal scale ("words"): the first α are nearly
# uniform (scores of std about 0.5, against 1.8), so that every region, the objects
# among them, gets its share of the gradient; at full scale α starts peaked on random
# regions, and for some seeds the attention of half the colours had not formed by
# epoch 6 (docs/experiments.md).
KEY_SCALE = 0.25


def shifted(words):
    """words (N, T, E) -> the words before them (N, T, E): zeros, then words[:, :-1]."""
    xp = get_array_module(words.data)
    N, T, E = words.shape
    zeros = Tensor(xp.zeros((N, 1, E), dtype=words.dtype))
    return F.concat([zeros, words[:, :T - 1]], axis=1) if T > 1 else zeros


@dataclass
class ImageCode:
    """What the language model sees of N images: the vector v (N, E) (or (N, H)
    for "init") and, with attention, the CNN's regions (N, L, C) and their keys
    (N, L, A), computed once an image however many sentences read it (else None)."""
    vector: Tensor
    regions: Tensor = None
    keys: Tensor = None

    def rows(self, index):
        """The code of images ``index`` (an integer array; repeats allowed)."""
        if self.regions is None:
            return ImageCode(self.vector[index])
        return ImageCode(self.vector[index], self.regions[index], self.keys[index])


class Captioner(Module):
    """Image features (N, K) and token ids (N, T) -> next-word logits (N, T, V)."""

    def __init__(self, vocab_size, feature_size, embed_size=64, hidden_size=256,
                 cell="lstm", condition="every", dropout=0.0, encoder=None, attention=0,
                 attention_query="words", rng=None):
        super().__init__()
        if cell not in ("rnn", "lstm"):
            raise ValueError(f"captioner: cell must be 'rnn' or 'lstm', got {cell!r}")
        if condition not in CONDITIONS:
            raise ValueError(f"captioner: condition must be one of {CONDITIONS}, got {condition!r}")
        if attention_query not in ATTENTION_QUERIES:
            raise ValueError(f"captioner: attention_query must be one of {ATTENTION_QUERIES}, "
                             f"got {attention_query!r}")
        if attention and not hasattr(encoder, "regions"):
            raise ValueError("captioner: attention needs an encoder that gives regions (the "
                             "small CNN, or a pretrained CNN's precomputed regions)")
        rng = rng if rng is not None else np.random.default_rng()
        self.cell_type, self.condition = cell, condition
        if encoder is not None:
            self.encoder = encoder  # a CNN trained jointly: images -> (N, K)
        image_out = hidden_size if condition == "init" else embed_size
        self.image_projection = Linear(feature_size, image_out, rng=rng)
        self.embedding = Embedding(vocab_size, embed_size, rng=rng)
        step_input = 2 * embed_size if condition == "every" else embed_size
        recurrent = LSTM if cell == "lstm" else RNN
        self.recurrent = recurrent(step_input, hidden_size, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        read_out = hidden_size
        if attention:
            words = attention_query == "words"
            self.attention = Attention(embed_size + (embed_size if words else hidden_size),
                                       encoder.region_size, attention, centred=words, rng=rng)
            self.attention.query.W.data[embed_size:] = 0   # the word just read leads at first
            if words:
                self.attention.key.W.data *= KEY_SCALE
            self.attention_query = attention_query
            read_out += encoder.region_size
        self.output = Linear(read_out, vocab_size, rng=rng)
        self.hidden_size = hidden_size

    def encode(self, images):
        """Images (N, 3, S, S) or features (N, K) -> ImageCode: v = relu(W_v CNN(I) + b_v)."""
        regions = keys = None
        if hasattr(self, "attention"):
            features, regions = self.encoder.regions(images)
            keys = self.attention.keys(regions)
        else:
            features = self.encoder(images) if hasattr(self, "encoder") else images
        return ImageCode(F.relu(self.image_projection(self.dropout(features))), regions, keys)

    def read_out(self, h, words, code, before=None):
        """Hidden states h (N, T, H) -> next-word logits (N, T, V), from h alone or,
        with attention, from h and the regions that the query points at (``attend``),
        words (N, T, E) being the embeddings of the words just read."""
        h = self.dropout(h)
        if hasattr(self, "attention"):
            context, _ = self.attend(h, words, code, before)               # (N, T, C)
            h = F.concat([h, context], axis=2)
        return self.output(h)

    def attend(self, h, words, code, before=None):
        """(context (N, T, C), α (N, T, L)): the regions that the query points at,
        [words ; before] or [words ; h] (``attention_query``). ``before`` (N, T, E):
        the embeddings of the words read before ``words``; None: ``words`` is a whole
        sentence from its first word, whose "before" is zeros and the rest shifted."""
        if self.attention_query == "word_state":
            return self.attention(F.concat([words, h], axis=2), code.regions, code.keys)
        if before is None:
            before = shifted(words)
        return self.attention(F.concat([words, before], axis=2), code.regions, code.keys)

    def attention_weights(self, code, ids):
        """Teacher forcing: ids (N, T) -> α (N, T, L), row t the weights over the L regions
        with which the word after ids[:, t] is predicted, queried by the word ids[:, t] just
        read and the state after it: the α of ``read_out``, by its own ``attend``."""
        if not hasattr(self, "attention"):
            raise ValueError("captioner: this model has no attention (trained with --attention 0)")
        h, words = self.states(code, ids)
        return self.attend(self.dropout(h), words, code)[1]

    def _initial_state(self, v):
        """(h_0,) or (h_0, c_0): h_0 = tanh(v) for "init", zeros otherwise."""
        xp = get_array_module(v.data)
        zeros = Tensor(xp.zeros((v.shape[0], self.hidden_size), dtype=v.dtype))
        h0 = F.tanh(v) if self.condition == "init" else zeros
        return (h0, zeros) if self.cell_type == "lstm" else (h0,)

    def _advance(self, x, state):
        """One recurrent step on inputs x (N, step input) from the recurrent ``state``."""
        if self.cell_type == "lstm":
            return self.recurrent.step(x, *state)
        return (self.recurrent.step(x, *state),)

    def start(self, code):
        """The decoding state in which the first word (<start>) is read: the recurrent
        state, and after it, with attention, the embedding of the word read before
        (zeros at first)."""
        v = code.vector
        state = self._initial_state(v)
        state = self._advance(v, state) if self.condition == "first" else state
        if hasattr(self, "attention"):
            xp = get_array_module(v.data)
            state += (Tensor(xp.zeros((v.shape[0], self.embedding.W.shape[1]), dtype=v.dtype)),)
        return state

    def step(self, code, ids, state):
        """One word: ids (N,) of the current words -> (log-probabilities (N, V), new state)."""
        words = self.embedding(ids)
        x = F.concat([words, code.vector], axis=1) if self.condition == "every" else words
        recurrent = self._advance(x, state[:2 if self.cell_type == "lstm" else 1])
        n = words.shape[0]
        h, now = F.reshape(recurrent[0], (n, 1, -1)), F.reshape(words, (n, 1, -1))
        if not hasattr(self, "attention"):
            return F.log_softmax(F.reshape(self.read_out(h, now, code), (n, -1))), recurrent
        logits = self.read_out(h, now, code, F.reshape(state[-1], (n, 1, -1)))
        return F.log_softmax(F.reshape(logits, (n, -1))), recurrent + (words,)

    def forward(self, images, ids):
        """Teacher forcing: ids (N, T) -> logits (N, T, V) for the words that follow."""
        return self.sentence_logits(self.encode(images), ids)

    def sentence_logits(self, code, ids):
        """Teacher forcing from an ImageCode of N images: ids (N, T) -> logits (N, T, V)."""
        return self.read_out(*self.states(code, ids), code)

    def states(self, code, ids):
        """Teacher forcing: ids (N, T) -> (hidden states h (N, T, H) after each word,
        the words' embeddings (N, T, E))."""
        v = code.vector
        x = words = self.embedding(ids)                           # (N, T, E)
        N, T, E = x.shape
        v_steps = F.reshape(v, (N, 1, -1))
        if self.condition == "every":
            xp = get_array_module(v.data)
            x = F.concat([x, v_steps * xp.ones((1, T, 1), dtype=v.dtype)], axis=2)
        elif self.condition == "first":
            x = F.concat([v_steps, x], axis=1)
        h = self.recurrent(x, *self._initial_state(v))           # (N, T or T + 1, H)
        if self.condition == "first":
            h = h[:, 1:]
        return h, words

    def loss(self, images, ids, mask, image_of_row=None, buckets=1):
        """Masked mean negative log-likelihood (eq. 3.2) of ids[:, 1:] given ids[:, :-1].

        image_of_row (N,): which of the images each sentence describes, so that
        an image with several sentences is encoded once (None: row i, image i).
        buckets: the sentences are sorted by length and cut into this many
        groups, each run only as far as its own longest sentence: the same
        loss, with less recurrent work spent on padding.
        """
        code = self.encode(images)
        xp = get_array_module(ids)
        if image_of_row is None:
            image_of_row = xp.arange(ids.shape[0])
        lengths = to_cpu(mask.sum(axis=1))
        words = float(lengths.sum() - len(lengths))       # the targets: mask[:, 1:]
        total = 0.0
        for rows in np.array_split(np.argsort(-lengths, kind="stable"), buckets):
            if len(rows) == 0:
                continue
            T = int(lengths[rows].max())
            picked = xp.asarray(rows)
            logits = self.sentence_logits(code.rows(image_of_row[picked]), ids[picked, :T - 1])
            share = float(lengths[rows].sum() - len(rows)) / words
            total = total + F.cross_entropy(logits, ids[picked, 1:T], mask[picked, 1:T]) * share
        return total
