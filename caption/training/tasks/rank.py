"""The image–sentence ranking model as a task: training and evaluating it (thesis §3.6, §5.2).

Each mini-batch pairs K distinct images with one sentence of each, so that
the matching pairs of eq. 3.6 are exactly the diagonal of the K×K score
matrix. To evaluate a split, every image and every sentence of the split is
encoded, S = V Sᵀ scores all of them against each other (for the usual test
split, 1000 images × 5000 sentences), and the retrieval metrics of Karpathy
& Fei-Fei 2015 are read from S (caption/metrics/retrieval.py): image
annotation (image → sentences) and image search (sentence → image), each
R@1, R@5, R@10 (percentages) and the median rank.
"""
import functools
import pathlib
import tempfile

import numpy as np

import nnscratch.functional as F
from nnscratch import Tensor, no_grad
from nnscratch.backend import to_cpu

from ...data.batching import Batch, chunks, encode_captions, iterate_batches, pad_batch
from ...evaluation.report import ranking_report
from ...evaluation.tables import retrieval_table
from ...metrics.retrieval import RECALL_AT, retrieval_metrics
from ...models.device import pick_device
from ...models.ranker import Ranker, sentence_words
from ..distributed import Single
from ..loop import train
from ..optimizers import build_optimizer
from ..run_folder import RunFolder
from .registry import register

EVAL_BATCH = 1000
DIRECTIONS = ("annotation", "search")


def distinct_image_batches(encoded, vocab, batch_size, rng, all_sentences=False):
    """One epoch of Batches in which no image appears twice.

    all_sentences False: one sentence per image, drawn at random (batching's
    own epochs already hold each image once). True: every sentence, in
    rounds; round r holds the r-th sentence (in a random order) of each
    image that has one, and a batch never spans two rounds.
    """
    if not all_sentences:
        return list(iterate_batches(encoded, vocab, batch_size, rng))
    orders = [rng.permutation(len(sentences)) for sentences in encoded]
    batches = []
    for r in range(max(len(sentences) for sentences in encoded)):
        images = rng.permutation([i for i, sentences in enumerate(encoded) if len(sentences) > r])
        for start in range(0, len(images), batch_size):
            rows = images[start:start + batch_size]
            tokens, mask = pad_batch([encoded[i][orders[i][r]] for i in rows], vocab)
            batches.append(Batch(rows.astype(np.int64), tokens, mask))
    return [batches[j] for j in rng.permutation(len(batches))]


def flatten(metrics):
    """{"annotation": {"R@1": …}, "search": {…}} -> {"annotation R@1": …, …, "R@sum": …}.

    R@sum, the sum of the six recalls, is the validation score that selects
    the checkpoint.
    """
    flat = {f"{d} {key}": value for d in DIRECTIONS for key, value in metrics[d].items()}
    flat["R@sum"] = sum(metrics[d][f"R@{k}"] for d in DIRECTIONS for k in RECALL_AT)
    return flat


@register("rank")
class RankTask:
    """The ranking model as a trainer task (see caption/training/loop.py)."""

    selection_metric = "R@sum"

    @staticmethod
    def build_model(config, vocab, feature_size, rng):
        """The Ranker a config describes, over frozen features of ``feature_size``."""
        return Ranker(len(vocab), feature_size, embed_size=config["embed_size"],
                      encoder=config["encoder"], pooling=config["pooling"],
                      margin=config["margin"], scores=config["scores"], rng=rng)

    def __init__(self, config, dataset, vocab, inputs, model, rng, to_device=np.asarray):
        self.config, self.dataset, self.vocab = config, dataset, vocab
        self.inputs, self.model, self.rng = inputs, model, rng
        self.to_device = to_device
        self.group = Single()    # the processes training together (caption/training/distributed.py)
        self.between_batches = None   # after each evaluation batch (caption/shell/threads.py)
        self.encoded = {split: encode_captions(dataset.split(split), vocab) for split in inputs}

    def features(self, split, rows):
        """CNN features (len(rows), K) of some images of a split, on the model's device."""
        return Tensor(self.to_device(self.inputs[split][rows]))

    def batches(self, rng):
        return distinct_image_batches(self.encoded["train"], self.vocab, self.config["batch_size"],
                                      rng, all_sentences=self.config["all_sentences"])

    def loss(self, batch):
        words, mask = sentence_words(batch.tokens, batch.mask)
        return self.model.loss(self.features("train", batch.image_indices),
                               self.to_device(words), self.to_device(mask))

    def share_loss(self, batch):
        """Under MPI: (this process's part of eq. 3.6's loss, to backpropagate, or None; the
        loss's value over the number of processes, which their allreduce sums into it).

        Eq. 3.6 compares every image of the batch with every sentence, so the parts of
        the batch cannot be scored apart: each process encodes its slice of the pairs,
        v and s (``self.group.rows``), the processes gather one another's, and each
        scores the whole batch, S = V Sᵀ, with its own slice as the only part that
        carries a gradient. Its backward gives the exact gradient through its own
        slice; the allreduce adds the slices up to the gradient of the whole batch."""
        rows = self.group.rows(len(batch.image_indices))
        words, mask = sentence_words(batch.tokens[rows], batch.mask[rows])
        v = self.model.encode_images(self.features("train", batch.image_indices[rows]))
        s = self.model.encode_sentences(self.to_device(words), self.to_device(mask))
        every = self.group.gather([(to_cpu(v.data), to_cpu(s.data))])
        mine = self.group.rank
        V = F.concat([v if k == mine else Tensor(self.to_device(a)) for k, (a, _) in
                      enumerate(every)], axis=0)
        S = F.concat([s if k == mine else Tensor(self.to_device(b)) for k, (_, b) in
                      enumerate(every)], axis=0)
        loss = F.ranking_loss(self.model.score_matrix(V, S), self.model.margin)
        return (loss if len(rows) else None), float(loss.item()) / self.group.size

    def embed_split(self, split):
        """v (I, E) of every image and s (L, E) of every sentence of a split, and
        image_of (L,): the image each sentence describes (NumPy arrays). Under MPI each
        process encodes its slice of the images and of the sentences, and all gather them."""
        n_images = len(self.inputs[split])
        pairs = [(i, ids) for i, sentences in enumerate(self.encoded[split]) for ids in sentences]
        with no_grad():
            v = [to_cpu(self.model.encode_images(self.features(split, chunk)).data)
                 for chunk in chunks(self.group.rows(n_images), EVAL_BATCH, self.between_batches)]
            s = []
            for chunk in chunks(self.group.rows(len(pairs)), EVAL_BATCH, self.between_batches):
                tokens, mask = pad_batch([pairs[j][1] for j in chunk], self.vocab)
                words, word_mask = sentence_words(tokens, mask)
                s.append(to_cpu(self.model.encode_sentences(
                    self.to_device(words), self.to_device(word_mask)).data))
        v, s = self.group.gather(v), self.group.gather(s)
        return np.concatenate(v), np.concatenate(s), np.array([i for i, _ in pairs])

    def retrieval(self, split):
        """{"annotation": {R@1, R@5, R@10, median_rank}, "search": {…}} of a split."""
        v, s, image_of = self.embed_split(split)
        return retrieval_metrics(v @ s.T, image_of)

    def evaluate(self, split):
        """The retrieval metrics of a split as one flat dict, with R@sum."""
        return flatten(self.retrieval(split))

    def final_metrics(self):
        """Test-split retrieval of the model, beside its baselines: the same
        model with untrained (random) weights and, on the shapes set, the
        bag-of-words encoder trained with the same settings."""
        metrics = self.retrieval("test")
        untrained = self.sibling(self.config)
        metrics["baselines"] = {"untrained": untrained.retrieval("test")}
        on_shapes = all(image.scene is not None for image in self.dataset.split("test"))
        if on_shapes and self.config["encoder"] != "bow":
            print("baseline: the bag-of-words encoder (eq. 3.4), otherwise the same settings",
                  flush=True)
            bow = self.sibling({**self.config, "encoder": "bow"})
            bow.fit()
            metrics["baselines"]["bag of words"] = bow.retrieval("test")
        return metrics

    def sibling(self, config):
        """A new task on the same data with a freshly initialised model for ``config``."""
        rng = np.random.default_rng(config["seed"])
        model = pick_device(config["device"]).place(
            self.build_model(config, self.vocab, self.inputs["train"].shape[1], rng))
        return RankTask(config, self.dataset, self.vocab, self.inputs, model, rng, self.to_device)

    def fit(self):
        """Train with the shared trainer in a throw-away run folder, keeping the best checkpoint."""
        config = {**self.config, "max_steps": None}
        optimizer = build_optimizer(self.model.parameters(), config)
        with tempfile.TemporaryDirectory() as folder:
            run = RunFolder.create(pathlib.Path(folder) / "run", {})
            train(self, optimizer, run, config, progress=False)
            run.load_checkpoint("best", self.model)
        self.model.eval()

    def evaluation(self, split, beam=1, meteor=False):
        """(what caption.evaluate writes: the retrieval metrics; the function writing its
        report). ``beam`` and ``meteor`` are the caption task's and do not apply."""
        v, s, image_of = self.embed_split(split)
        scores = v @ s.T                                                # eq. 3.6: S = V Sᵀ
        report = functools.partial(ranking_report, images=self.dataset.split(split),
                                   scores=scores, image_of=image_of)
        return {"metrics": retrieval_metrics(scores, image_of)}, report

    @staticmethod
    def table(metrics):
        return retrieval_table(metrics)
