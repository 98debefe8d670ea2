"""One data-parallel training step over MPI, split into compute and allreduce (issue 24,
item 4; docs/cluster.md).

``mpirun -n N python -m benchmarks.mpi_step [--task caption|rank] [--vocab V] [--steps K]``
(or without mpirun: N = 1) times, on each rank, its share of a global batch's forward and
backward (``compute``) and then the one allreduce of the flat gradient buffer
(caption/training/distributed.py ``MPIGroup.reduce``), K times after two untimed steps,
and prints from rank 0 the median of the slowest rank's compute, the median allreduce
and the bytes reduced per step, as one JSON line.

- caption: the captioner at real-data settings (caption/training/config.py ``REAL_DATA``:
  4096-d features, embedding and hidden 256, LSTM), a global batch of 20 images with 5
  sentences each (Flickr8k's sentence lengths, benchmarks/flickr8k.py), vocabulary V.
- rank: the ranking model (eq. 3.3-3.6: RNN encoder with ReLU, s = Σ h_t, embedding
  256), a global batch of 100 (image, sentence) pairs; each rank encodes its 100/N pairs,
  gathers the others' embeddings and scores the whole batch (caption/training/tasks/
  rank.py ``share_loss``); the gather is counted in ``compute``.
Run with ``--threads 1`` per process, so that N processes use N cores.
"""
import argparse
import json
import time

import numpy as np

from caption.models.captioner import Captioner
from caption.models.ranker import Ranker, sentence_words
from caption.training.distributed import group as process_group
import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.threads import use_threads

from . import flickr8k

IMAGES = {"caption": 20, "rank": 100}


def caption_step(vocab, rows, ranks, seed=0):
    """(model, a function of no arguments: the loss of this rank's rows)."""
    features, ids, mask, image_of_row = flickr8k.batch(IMAGES["caption"], flickr8k.SENTENCES,
                                                       vocab, seed)
    model = Captioner(vocab, flickr8k.FEATURES, embed_size=256, hidden_size=256,
                      rng=np.random.default_rng(0)).train()
    keep = np.isin(image_of_row, rows)
    images, inverse = np.unique(image_of_row[keep], return_inverse=True)
    args = (Tensor(features[images]), ids[keep], mask[keep], inverse, flickr8k.BUCKETS)
    return model, lambda: model.loss(*args)


def rank_step(vocab, rows, ranks, seed=0):
    features, ids, mask, _ = flickr8k.batch(IMAGES["rank"], 1, vocab, seed)
    model = Ranker(vocab, flickr8k.FEATURES, embed_size=256, rng=np.random.default_rng(0))
    words, word_mask = sentence_words(ids[rows], mask[rows])

    def loss():
        v = model.encode_images(Tensor(features[rows]))
        s = model.encode_sentences(words, word_mask)
        every = ranks.gather([(v.data, s.data)])
        V = F.concat([v if k == ranks.rank else Tensor(a) for k, (a, _) in enumerate(every)])
        S = F.concat([s if k == ranks.rank else Tensor(b) for k, (_, b) in enumerate(every)])
        return F.ranking_loss(F.matmul(V, F.transpose(S)), model.margin)
    return model, loss


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mpi_step", description=__doc__)
    parser.add_argument("--task", choices=sorted(IMAGES), default="caption")
    parser.add_argument("--vocab", type=int, default=flickr8k.VOCAB)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    ranks = process_group()
    rows = ranks.rows(IMAGES[args.task])
    model, loss = (caption_step if args.task == "caption" else rank_step)(args.vocab, rows, ranks)
    parameters = model.parameters()
    compute, reduce = [], []
    with use_threads(args.threads):
        for step in range(args.steps + 2):
            start = time.perf_counter()
            for p in parameters:
                p.grad = None
            value = loss()
            value.backward()
            middle = time.perf_counter()
            ranks.reduce(parameters, float(value.item()), False)
            end = time.perf_counter()
            if step >= 2:
                compute.append(middle - start)
                reduce.append(end - middle)
    slowest = np.max(np.array(ranks.gather([compute])), axis=0) if ranks.size > 1 else compute
    if ranks.is_root:
        values = sum(p.data.size for p in parameters) + 2
        print(json.dumps({"task": args.task, "processes": ranks.size, "threads": args.threads,
                          "vocab": args.vocab, "global_batch_images": IMAGES[args.task],
                          "compute_ms": round(1e3 * float(np.median(slowest)), 2),
                          "allreduce_ms": round(1e3 * float(np.median(reduce)), 3)
                          if ranks.size > 1 else 0.0,
                          "bytes_per_step": 4 * values,
                          "step_ms": round(1e3 * float(np.median(
                              np.array(slowest) + np.array(reduce))), 2)}))


if __name__ == "__main__":
    main()
