"""The caption generator as a task: training and evaluating it (thesis §3.7, §5.3).

The task feeds mini-batches of (image, caption) to ``Captioner.loss`` and,
to evaluate a split, decodes one caption per image (greedy, or beam search)
and scores it against the references with the COCO metrics, plus the
perplexity of the references under the model and, on the shapes set, the
precision and recall of the (colour, shape) pairs the captions name.
"""
import dataclasses
import functools

import numpy as np

import nnscratch.functional as F
from nnscratch import Tensor
from nnscratch.backend import to_cpu

from ...data.batching import chunks, encode_captions, iterate_batches, pad_batch
from ...data.features import RegionFeatures
from ...data.shapes_text import attribute_scores
from ...evaluation.report import caption_report
from ...evaluation.tables import format_metrics
from ...metrics import score, score_per_image
from ...metrics.diversity import diversity
from ...metrics.perplexity import perplexity
from ...models.captioner import Captioner
from ...models.decoding import beam_search, greedy
from ...models.precomputed import PrecomputedRegions
from ...models.small_cnn import SmallCNN, pixels_to_float
from ..baselines import constant_caption_scores
from ..distributed import Single
from .registry import register

EVAL_BATCH = 250
LENGTH_BUCKETS = 4   # training batches run as 4 groups of similar length (Captioner.loss)


NOT_ASKED = "not computed: not asked for (add --meteor)"


@register("caption")
class CaptionTask:
    """The caption generator as a trainer task (see caption/training/loop.py)."""

    selection_metric = "CIDEr-D"

    @staticmethod
    def build_model(config, vocab, feature_size, rng):
        """The Captioner a config describes (with a SmallCNN encoder for ``--cnn small``, or
        the precomputed regions of a pretrained CNN for attention over them)."""
        encoder = None
        if config["cnn"] == "small":
            encoder = SmallCNN(channels=tuple(config["cnn_channels"]),
                               feature_size=config["cnn_features"],
                               global_max=config["cnn_global_max"], rng=rng)
        elif config["attention"]:
            encoder = PrecomputedRegions(feature_size, config["region_size"],
                                         config["region_scale"])
        return Captioner(len(vocab), encoder.feature_size if encoder else feature_size,
                         embed_size=config["embed_size"], hidden_size=config["hidden_size"],
                         cell=config["cell"], condition=config["condition"],
                         dropout=config["dropout"], encoder=encoder,
                         attention=config["attention"],
                         attention_query=config["attention_query"], rng=rng)

    def __init__(self, config, dataset, vocab, inputs, model, rng, to_device=np.asarray):
        self.config, self.dataset, self.vocab = config, dataset, vocab
        self.inputs, self.model, self.rng = inputs, model, rng
        self.to_device = to_device
        self.group = Single()    # the processes training together (caption/training/distributed.py)
        self.between_batches = None   # after each evaluation batch (caption/shell/threads.py)
        self.never = vocab.unsaid_ids   # never generated (caption/models/decoding.py)
        self.encoded = {split: encode_captions(dataset.split(split), vocab, config["max_length"])
                        for split in inputs}

    def images(self, split, rows):
        """Model input for some images of a split: pixels as floats, features, or
        (features, regions as float32)."""
        x = self.inputs[split][rows]
        if isinstance(x, RegionFeatures):
            return (Tensor(self.to_device(x.vectors)),
                    Tensor(self.to_device(x.regions.astype(np.float32))))
        return Tensor(self.to_device(pixels_to_float(x) if x.dtype == np.uint8 else x))

    def batches(self, rng):
        return list(iterate_batches(self.encoded["train"], self.vocab, self.config["batch_size"],
                                    rng, all_sentences=self.config["all_sentences"]))

    def loss(self, batch):
        images, image_of_row = np.unique(batch.image_indices, return_inverse=True)
        return self.model.loss(self.images("train", images), self.to_device(batch.tokens),
                               self.to_device(batch.mask), self.to_device(image_of_row),
                               buckets=LENGTH_BUCKETS)

    def share_loss(self, batch):
        """Under MPI: (this process's weighted part of the batch's loss, to backpropagate,
        or None; its value, which the processes' allreduce sums into the batch's)."""
        part, weight = self.share(batch)
        if part is None:
            return None, 0.0
        loss = self.loss(part) * weight
        return loss, float(loss.item())

    def share(self, batch):
        """This process's part of a global batch under MPI, and its weight: the images of
        its slice (``self.group.rows``) with their sentences, and their share of the
        batch's target words, so that the parts' weighted losses add up to the batch's
        (``Captioner.loss``: a mean over every word). (None, 0.0) when it gets no image."""
        _, first = np.unique(batch.image_indices, return_index=True)
        images = batch.image_indices[np.sort(first)]           # in the batch's order
        keep = np.isin(batch.image_indices, images[self.group.rows(len(images))])
        if not keep.any():
            return None, 0.0
        words = batch.mask.sum() - len(batch.mask)             # the targets: mask[:, 1:]
        part = dataclasses.replace(batch, image_indices=batch.image_indices[keep],
                                   tokens=batch.tokens[keep], mask=batch.mask[keep])
        return part, float(part.mask.sum() - len(part.mask)) / float(words)

    def decode(self, split, beam=1, rows=None):
        """Decoded Hypotheses for the images of a split (greedy when beam is 1). Under MPI,
        for the whole split, each process decodes its slice and all gather the Hypotheses."""
        if rows is None and self.group.size > 1:
            mine = self.decode(split, beam, rows=self.group.rows(len(self.inputs[split])))
            return self.group.gather(mine)
        rows = np.arange(len(self.inputs[split])) if rows is None else np.asarray(rows)
        if beam == 1:
            start, end = self.vocab.start_id, self.vocab.end_id
            return [h for chunk in chunks(rows, EVAL_BATCH, self.between_batches)
                    for h in greedy(self.model, self.images(split, chunk), start, end,
                                    self.config["max_length"] + 1, never=self.never)]
        return [alternatives[0] for alternatives in self.decode_beams(split, beam, rows)]

    def decode_beams(self, split, beam, rows=None):
        """The ``beam`` best Hypotheses of each image of a split (a list per image, best
        first), EVAL_BATCH images decoded together."""
        rows = np.arange(len(self.inputs[split])) if rows is None else np.asarray(rows)
        return [hyps for chunk in chunks(rows, EVAL_BATCH, self.between_batches)
                for hyps in beam_search(self.model, self.images(split, chunk), self.vocab.start_id,
                                        self.vocab.end_id, beam, self.config["max_length"] + 1,
                                        self.never, self.config["length_alpha"])]

    def reference_nll(self, split):
        """Summed negative log-likelihood and word count of every reference (for perplexity);
        under MPI each process takes its slice of the images, and the sums are summed."""
        nll, count = 0.0, 0
        encoded = self.encoded[split]
        for chunk in chunks(self.group.rows(len(encoded)), EVAL_BATCH, self.between_batches):
            rows = [(k, s) for k, i in enumerate(chunk) for s in encoded[i]]
            tokens, mask = pad_batch([s for _, s in rows], self.vocab)
            code = self.model.encode(self.images(split, chunk))  # once per image
            logits = self.model.sentence_logits(code.rows(np.array([k for k, _ in rows])),
                                                self.to_device(tokens[:, :-1]))
            logp = to_cpu(F.log_softmax(logits).data)
            picked = np.take_along_axis(logp, tokens[:, 1:, None], axis=2)[..., 0]
            nll -= float(picked[mask[:, 1:]].sum())
            count += int(mask[:, 1:].sum())
        if self.group.size == 1:
            return nll, count
        nll, count = self.group.sum([nll, count])
        return float(nll), int(count)

    def evaluate(self, split, beam=1, meteor=False):
        """Metrics of a split: BLEU-1..4, ROUGE-L, CIDEr-D, perplexity, diversity (and
        attributes on shapes)."""
        words = [self.vocab.decode(h.ids) for h in self.decode(split, beam)]
        return self.score_captions(split, words, meteor)

    def score_captions(self, split, words, meteor=False):
        """The metrics of ``evaluate`` for given captions: one word list per image of the split
        (METEOR too when ``meteor``: a float, or "not computed: <why>")."""
        images = self.dataset.split(split)
        metrics = score({i: image.tokens for i, image in enumerate(images)},
                        {i: w for i, w in enumerate(words)}, tokenized=True, meteor=meteor)
        metrics["perplexity"] = perplexity(*self.reference_nll(split))
        metrics.update(diversity(words, (s for image in self.dataset.split("train")
                                         for s in image.tokens)))
        if all(image.scene is not None for image in images):
            attributes = attribute_scores(words, [image.scene for image in images])
            metrics["attribute_precision"] = attributes["precision"]
            metrics["attribute_recall"] = attributes["recall"]
        return metrics

    def final_metrics(self):
        """Test-split metrics of the model (beam search of width config["beam"]; validation
        during training decodes greedily, for speed), beside the best constant caption's."""
        metrics = self.evaluate("test", beam=self.config["beam"])
        metrics["beam"] = self.config["beam"]
        metrics["baselines"] = {"best constant caption": constant_caption_scores(
            self.dataset.split("train"), self.dataset.split("test"))}
        return metrics

    def alternatives(self, split, beam):
        """Per image of the split, its decoded Hypotheses, best first (one when greedy)."""
        if beam == 1:
            return [[h] for h in self.decode(split, 1)]
        return self.decode_beams(split, beam)

    def evaluation(self, split, beam=1, meteor=False):
        """(what caption.evaluate writes: the metrics and one record per image, with
        imgid, filename, caption, alternatives and scores; the function writing its report)."""
        images = self.dataset.split(split)
        alternatives = self.alternatives(split, beam)
        words = [self.vocab.decode(hyps[0].ids) for hyps in alternatives]
        metrics = self.score_captions(split, words, meteor=meteor)
        if not meteor:
            metrics["METEOR"] = NOT_ASKED
        scores = score_per_image({i: image.tokens for i, image in enumerate(images)},
                                 dict(enumerate(words)), tokenized=True)
        captions = [{"imgid": image.imgid, "filename": image.filename, "caption": " ".join(w),
                     "alternatives": [{"caption": " ".join(self.vocab.decode(h.ids)),
                                       "logprob": h.logprob, "score": h.score} for h in hyps],
                     "scores": scores[i]}
                    for i, (image, w, hyps) in enumerate(zip(images, words, alternatives))]
        fields = {"beam": beam, "metrics": metrics, "captions": captions}
        return fields, functools.partial(caption_report, images=images, model=self.model,
                                         vocab=self.vocab,
                                         model_input=functools.partial(self.images, split))

    @staticmethod
    def table(metrics):
        return format_metrics(metrics)
