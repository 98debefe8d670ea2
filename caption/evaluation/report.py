"""The HTML report of an evaluated run (``python -m caption.evaluate``).

One self-contained folder that opens from disk in a browser, with no
external resources::

    RUN/report.html
    RUN/report_images/      thumbnails of the images shown, and the training curves

A caption run shows a deterministic sample of images, each with its generated
caption (and the beam's alternatives, with their length-normalised
log-probabilities, see caption/models/decoding.py), its references and its own
scores, then the images with the best and the worst CIDEr-D, and, for a model
with attention, where it looked for each word of the first sampled images'
captions (caption/evaluation/attention_maps.py). A ranking run
shows, for a sample of images, the sentences ranked highest by S = vᵀs
(eq. 3.6), and for a sample of sentences, the images ranked highest. Both end
with the training curves of RUN/log.jsonl: a plot when matplotlib (an
optional extra) is installed, and always the numbers as a table.

Every piece of text goes through ``html.escape``: captions, references, file
names and paths are data, never markup.
"""
import html
import math
import pathlib
import shutil

import numpy as np

from ..cnn.preprocess import ImageError, load_image
from ..metrics.retrieval import annotation_ranks, search_ranks
from .attention_maps import (attention_steps, draw_attention, has_attention, input_side,
                             photo_pixels, pixels_of)

REPORT = "report.html"
IMAGE_DIR = "report_images"
CURVES = "training_curves.png"
THUMBNAIL = 256        # longest side of a copied image, in pixels
SMALL = 128            # images at most this wide are scaled up without smoothing
EXTREMES = 5           # images shown with the best and with the worst CIDEr-D
TOP = 5                # sentences per image / images per sentence shown for ranking
SENTENCES = 12         # sentences whose top images are shown for ranking
TRAINING_KEYS = ("train_loss", "lr")   # the other logged numbers are validation metrics
PER_IMAGE = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D")
ATTENTION_IMAGES = 6   # sampled images whose attention is drawn word by word

CAPTION_NOTE = ("<p>Each image lists its generated captions best first (several with beam "
                "search), each with its score, the log-probability over the length penalty "
                "that orders them (per word unless the run sets --length-alpha; "
                "caption/models/decoding.py), and its total log p; then the reference "
                "captions, and the first caption's own scores against them.</p>")

CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ccc; padding: 8px; width: 330px; font-size: 90%; }
.card img, .noimage { width: 160px; }
img.small { image-rendering: pixelated; }
.noimage { height: 60px; background: #eee; color: #666; padding: 4px; }
.name, .score { color: #666; }
.hit { font-weight: bold; color: #06c; }
img.hit { outline: 3px solid #06c; }
.thumbs { display: flex; gap: 6px; }
.thumbs figure { margin: 0; width: 96px; font-size: 80%; }
.thumbs img { width: 96px; }
"""


def escape(value):
    """Any value as HTML text (quotes escaped too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def sample_rows(count, size, seed=0):
    """A deterministic sample of ``size`` (at most ``count``) distinct row indices, sorted."""
    size = min(size, count)
    return np.sort(np.random.default_rng(seed).choice(count, size=size, replace=False))


class ImageCopies:
    """RUN/report_images/: a thumbnail of each image the report shows, made once.

    The folder is emptied first, so that it holds only the current report's files.
    """

    def __init__(self, run_dir):
        self.folder = pathlib.Path(run_dir) / IMAGE_DIR
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.tags = {}

    def tag(self, image, css=""):
        """An <img> of a karpathy.Image (a placeholder when it cannot be read)."""
        if image.imgid not in self.tags:
            self.tags[image.imgid] = self._copy(image)
        name, small = self.tags[image.imgid]
        if name is None:
            return f'<div class="noimage">image not available: {escape(small)}</div>'
        classes = " ".join(c for c in (css, "small" if small else "") if c)
        return (f'<img src="{escape(IMAGE_DIR + "/" + name)}" alt="{escape(image.filename)}"'
                f' class="{classes}">')

    def _copy(self, image):
        """(file name, whether it is small), or (None, why it could not be copied)."""
        if image.path is None:
            return None, "the dataset was loaded without an image folder"
        name = f"img{int(image.imgid):06d}.png"
        try:
            thumb = load_image(image.path, at_least=THUMBNAIL)
        except ImageError as error:
            return None, error.reason
        thumb.thumbnail((THUMBNAIL, THUMBNAIL))
        thumb.save(self.folder / name)
        return name, thumb.width <= SMALL


def metrics_html(metrics, spec=".4f"):
    """A metric dict as a table; {direction: {metric: value}} as a grid (floats by ``spec``)."""
    if metrics and all(isinstance(v, dict) for v in metrics.values()):
        columns = list(next(iter(metrics.values())))
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        rows = "".join(f"<tr><th>{escape(name)}</th>"
                       + "".join(f"<td>{_number(values.get(c), spec)}</td>" for c in columns) + "</tr>"
                       for name, values in metrics.items())
        return f"<table><tr><th></th>{head}</tr>{rows}</table>"
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{_number(v, spec)}</td></tr>" for k, v in metrics.items())
    return f"<table>{rows}</table>"


def _number(value, spec=".4f"):
    """A float formatted by ``spec``; anything else as escaped text."""
    return format(value, spec) if isinstance(value, float) else escape(value)


def _header(run_dir, evaluation, config):
    """Title, what was evaluated, and the run's configuration (folded)."""
    facts = {k: evaluation[k] for k in ("run", "task", "split", "checkpoint", "beam", "images")
             if k in evaluation}
    return (f"<h1>Evaluation of {escape(pathlib.Path(run_dir).name)}</h1>{metrics_html(facts)}"
            f"<details><summary>configuration (config.json)</summary>{metrics_html(config, 'g')}"
            "</details>")


def _page(title, sections):
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(sections) + "\n</body></html>\n")


def _write(run_dir, title, sections):
    path = pathlib.Path(run_dir) / REPORT
    temporary = path.with_name(f".{REPORT}.tmp")
    temporary.write_text(_page(title, sections), encoding="utf-8")
    temporary.replace(path)
    return path


# ---- caption runs ---------------------------------------------------------------------------

def _caption_card(image, record, copies):
    """One image: picture, generated caption(s) with scores, references, per-image scores."""
    generated = "".join(
        f"<li>{escape(alt['caption']) or '<i>(empty caption)</i>'} <span class=\"score\">"
        f"score {alt['score']:.3f}, log p {alt['logprob']:.2f}</span></li>"
        for alt in record["alternatives"])
    references = "".join(f"<li>{escape(raw)}</li>" for raw in image.raw)
    scores = " ".join(f"{escape(k)} {record['scores'][k]:.3f}" for k in PER_IMAGE
                      if k in record["scores"])
    return (f'<div class="card">{copies.tag(image)}'
            f'<div class="name">{escape(image.filename)} (imgid {escape(image.imgid)})</div>'
            f"<b>generated</b><ol>{generated}</ol><b>references</b><ul>{references}</ul>"
            f'<div class="score">{scores}</div></div>')


def _cards(title, rows, images, records, copies):
    cards = "".join(_caption_card(images[r], records[r], copies) for r in rows)
    return f'<h2>{escape(title)}</h2><div class="cards">{cards}</div>'


ATTENTION_NOTE = ("<p>Each panel is one step of the best caption: having read the word on "
                  "the left of the arrow, the model predicts the word on its right from its "
                  "state and from the CNN's regions weighted by α, drawn here (dark where α is "
                  "small; the region of largest α outlined).</p>")


def attention_section(rows, images, records, model, vocab, model_input, max_length, folder,
                      photo_side=None):
    """The attention of the first captions of ``rows``, word by word, one PNG per image.

    model_input(rows) -> the model's input for those images of the split;
    max_length: the run's, to tell a caption closed by <end> from one cut short;
    photo_side: the side of the square a pretrained CNN saw of each photo (its
    regions are drawn over that square, read from the image file).
    """
    figures = []
    for r in rows[:ATTENTION_IMAGES]:
        words = records[r]["caption"].split()
        image = model_input([r])
        if isinstance(image, tuple):   # a pretrained CNN's regions: draw over the photo
            if images[r].path is None:
                continue
            pixels = photo_pixels(images[r].path, photo_side)
        else:
            pixels = pixels_of(image)
        steps = attention_steps(model, vocab, image, vocab.encode(words),
                                ended=len(words) <= max_length)
        name = f"attention{int(images[r].imgid):06d}.png"
        draw_attention([(f"{images[r].filename}: {records[r]['caption']}", pixels, steps)],
                       pathlib.Path(folder) / name)
        figures.append(f'<p><img src="{escape(IMAGE_DIR + "/" + name)}" '
                       f'alt="attention for {escape(images[r].filename)}"></p>')
    return ("<h2>Where the model looks, word by word</h2>" + ATTENTION_NOTE + "".join(figures))


def caption_report(run_dir, evaluation, images, config, log, sample=24, model=None, vocab=None,
                   model_input=None):
    """Write RUN/report.html for a caption run; returns its path.

    evaluation: the dict of caption.evaluate, whose "captions" holds one record
    per image of ``images`` (the split's karpathy.Images, in order):
    {"caption", "alternatives": [{"caption", "score", "logprob"}, ...], "scores": {metric: float}}.
    config: the run's config.json; log: the records of its log.jsonl.
    model, vocab, model_input(rows) -> the model's input for those rows of the split: given
    for a model with attention, its maps are drawn for the first sampled images.
    """
    records = evaluation["captions"]
    if len(records) != len(images):
        raise ValueError(f"caption_report: {len(records)} caption records for {len(images)} images")
    copies = ImageCopies(run_dir)
    cider = [record["scores"]["CIDEr-D"] for record in records]
    best = sorted(range(len(images)), key=lambda i: -cider[i])[:EXTREMES]
    worst = sorted(range(len(images)), key=lambda i: cider[i])[:EXTREMES]
    shown = sample_rows(len(images), sample)
    sections = [_header(run_dir, evaluation, config), "<h2>Metrics</h2>",
                metrics_html(evaluation["metrics"]),
                CAPTION_NOTE,
                _cards(f"A sample of {min(sample, len(images))} images", shown, images, records,
                       copies),
                _cards(f"Best CIDEr-D of the {len(images)} images", best, images, records, copies),
                _cards(f"Worst CIDEr-D of the {len(images)} images", worst, images, records, copies),
                training_curves(log, copies.folder)]
    if model is not None and has_attention(model) and len(shown):
        sections.insert(-1, attention_section(shown, images, records, model, vocab, model_input,
                                              config["max_length"], copies.folder,
                                              input_side(config["cnn"])))
    return _write(run_dir, f"Evaluation of {run_dir}", sections)


# ---- ranking runs ---------------------------------------------------------------------------

def _annotation_card(k, image, scores, sentences, image_of, rank, copies):
    """Image k and the TOP sentences that score highest with it (its own ones marked)."""
    top = np.argsort(-scores[k], kind="stable")[:TOP]
    items = "".join(f'{"<li class=hit>" if image_of[l] == k else "<li>"}{escape(sentences[l])} '
                    f'<span class="score">{scores[k, l]:.3f}</span></li>' for l in top)
    return (f'<div class="card">{copies.tag(image)}'
            f'<div class="name">{escape(image.filename)} (imgid {escape(image.imgid)}); '
            f"its first own sentence is ranked {int(rank)}</div>"
            f"<b>top sentences</b> (own ones in blue)<ol>{items}</ol></div>")


def _search_row(l, images, scores, sentences, image_of, rank, copies):
    """Sentence l and the TOP images that score highest with it (its own one outlined)."""
    top = np.argsort(-scores[:, l], kind="stable")[:TOP]
    figures = "".join(f"<figure>{copies.tag(images[k], 'hit' if k == image_of[l] else '')}"
                      f"<figcaption>{scores[k, l]:.3f}</figcaption></figure>" for k in top)
    return (f"<tr><td>{escape(sentences[l])}<br><span class=\"score\">its image is ranked "
            f"{int(rank)}</span></td><td><div class=\"thumbs\">{figures}</div></td></tr>")


def ranking_report(run_dir, evaluation, images, scores, image_of, config, log, sample=24):
    """Write RUN/report.html for a ranking run; returns its path.

    scores: S (I, L), image k against sentence l (eq. 3.6); image_of (L,): the
    image of each sentence. Sentences are in the order the ranking task encodes
    them: image by image, each image's sentences in the dataset's order.
    config: the run's config.json; log: the records of its log.jsonl.
    """
    scores, image_of = np.asarray(scores), np.asarray(image_of)
    sentences = [raw for image in images for raw in image.raw]
    if scores.shape != (len(images), len(sentences)):
        raise ValueError(f"ranking_report: scores {scores.shape}, expected (images, sentences) = "
                         f"({len(images)}, {len(sentences)})")
    copies = ImageCopies(run_dir)
    image_ranks = annotation_ranks(scores, image_of)
    sentence_ranks = search_ranks(scores, image_of)
    cards = "".join(_annotation_card(k, images[k], scores, sentences, image_of, image_ranks[k], copies)
                    for k in sample_rows(len(images), sample))
    rows = "".join(_search_row(l, images, scores, sentences, image_of, sentence_ranks[l], copies)
                   for l in sample_rows(len(sentences), SENTENCES, seed=1))
    sections = [_header(run_dir, evaluation, config), "<h2>Retrieval</h2>",
                metrics_html(evaluation["metrics"]),
                f'<h2>Image annotation: top sentences per image</h2><div class="cards">{cards}</div>',
                f"<h2>Image search: top images per sentence</h2><table>{rows}</table>",
                training_curves(log, copies.folder)]
    return _write(run_dir, f"Evaluation of {run_dir}", sections)


# ---- training curves ------------------------------------------------------------------------

def curve_keys(log):
    """The numeric quantities logged per epoch (train_loss first), besides epoch and step."""
    keys = []
    for record in log:
        keys += [k for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                 and k not in ("epoch", "step") and k not in keys]
    return sorted(keys, key=lambda k: k != "train_loss")


def curves_table(log):
    """The training log as an HTML table: one row per epoch."""
    keys = ["epoch"] + curve_keys(log)
    head = "".join(f"<th>{escape(k)}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{_number(record.get(k, ''), '.4g')}</td>" for k in keys) + "</tr>"
                   for record in log)
    return f"<table><tr>{head}</tr>{rows}</table>"


def plot_curves(log, path):
    """Plot every logged quantity against the epoch into ``path`` (PNG); False without matplotlib."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return False
    keys = curve_keys(log)
    columns = min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    figure = Figure(figsize=(4 * columns, 2.6 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False).flat
    log_epochs = [record["epoch"] for record in log]
    for key, axes in zip(keys, grid):
        points = [(record["epoch"], record[key]) for record in log if key in record]
        axes.plot(*zip(*points), marker="o")
        axes.set_title(key if key in TRAINING_KEYS else f"validation {key}")
        axes.set_xlabel("epoch")
        axes.set_xlim(min(log_epochs) - 0.5, max(log_epochs) + 0.5)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    for axes in grid:               # the cells left over in the last row
        axes.set_visible(False)
    figure.savefig(path, dpi=80)
    return True


def training_curves(log, folder):
    """The training-curves section: a plot (with matplotlib) and the numbers."""
    if not log or not curve_keys(log):
        return "<h2>Training curves</h2><p>No training log (log.jsonl) to show.</p>"
    table = curves_table(log)
    if not plot_curves(log, pathlib.Path(folder) / CURVES):
        return ("<h2>Training curves</h2><p>(Install matplotlib for a plot.)</p>" + table)
    return (f'<h2>Training curves</h2><img src="{escape(IMAGE_DIR + "/" + CURVES)}" '
            f'alt="training curves"><details><summary>numbers</summary>{table}</details>')
