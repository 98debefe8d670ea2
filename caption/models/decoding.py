"""Turning a trained caption generator into sentences: greedy and beam search.

Both call ``model.step``, the same ``rnn_step``/``lstm_step`` the training
forward pass is built on, so the model math is written once. A hypothesis
w_1 … w_L (ending in <end>, or cut at ``max_len`` words) scores

    score = (1 / L) Σ_t log p(w_t | w_<t, I)        (length-normalised)

so that short sentences are not favoured merely for having fewer factors.
Greedy decoding takes the most likely word at each step; beam search keeps
the K best partial sentences (by total log-probability) at each step. Words
that are never a target in training (<pad>, <start>) are passed as ``never``
and are not generated.
"""
from dataclasses import dataclass, field

import numpy as np

from nnscratch import Tensor, no_grad
from nnscratch.backend import to_cpu


@dataclass
class Hypothesis:
    """A decoded sentence: word ids (without <start>/<end>) and its log-probability."""
    ids: list = field(default_factory=list)
    logprob: float = 0.0
    length: int = 0  # words scored, <end> included

    @property
    def score(self):
        return self.logprob / max(self.length, 1)


def _take(state, rows):
    """Select rows of every tensor in a recurrent state."""
    return tuple(Tensor(s.data[rows]) for s in state)


def _step(model, code, ids, state, never):
    """model.step, as NumPy log-probabilities with the ``never`` words at -inf."""
    logprobs, state = model.step(code, ids, state)
    logprobs = to_cpu(logprobs.data)
    logprobs[:, list(never)] = -np.inf
    return logprobs, state


def greedy(model, images, start_id, end_id, max_len=20, never=()):
    """The most likely word at every step, for a batch: images (N, ...) -> N Hypotheses."""
    with no_grad():
        model.eval()
        code = model.encode(images)
        n = code.vector.shape[0]
        state = model.start(code)
        ids = np.full(n, start_id)
        hyps = [Hypothesis() for _ in range(n)]
        done = np.zeros(n, dtype=bool)
        for _ in range(max_len):
            logprobs, state = _step(model, code, ids, state, never)
            ids = logprobs.argmax(axis=1)
            for i in np.flatnonzero(~done):
                hyps[i].logprob += float(logprobs[i, ids[i]])
                hyps[i].length += 1
                if ids[i] == end_id:
                    done[i] = True
                else:
                    hyps[i].ids.append(int(ids[i]))
            if done.all():
                break
    return hyps


def beam_search(model, image, start_id, end_id, beam=3, max_len=20, never=()):
    """The ``beam`` best sentences for one image (batch of 1), best first by score."""
    with no_grad():
        model.eval()
        code = model.encode(image)
        state = model.start(code)
        alive = [Hypothesis()]
        last = np.array([start_id])
        finished = []
        for _ in range(max_len):
            rows = np.zeros(len(alive), dtype=int)
            logprobs, state = _step(model, code.rows(rows), last, state, never)
            totals = np.array([h.logprob for h in alive])[:, None] + logprobs
            best = np.argsort(-totals, axis=None, kind="stable")[:beam - len(finished)]
            origins, words = np.unravel_index(best, totals.shape)
            keep, survivors = [], []
            for origin, word in zip(origins, words):
                parent = alive[origin]
                child = Hypothesis(parent.ids + ([] if word == end_id else [int(word)]),
                                   float(totals[origin, word]), parent.length + 1)
                if word == end_id:
                    finished.append(child)
                else:
                    survivors.append(child)
                    keep.append(origin)
            if not survivors or len(finished) >= beam:
                break
            alive, last = survivors, words[[w != end_id for w in words]]
            state = _take(state, np.array(keep))
        else:
            finished.extend(alive)
    return sorted(finished, key=lambda h: -h.score)[:beam]
