# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # §1.2–1.3, §3.3 and §5: the data, the metrics, the experiments
#
# The thesis, §1.2, leaves a number to compute:
#
# > «En los *datasets* que vamos a utilizar, cada imagen va acompañada de cinco
# > frases con una longitud media de `///CALCULAR CON EL CODIGO`.»
#
# *In the datasets we will use, each image comes with five sentences of mean
# length `///COMPUTE WITH THE CODE`.*
#
# §1.3, on why metrics are hard:
#
# > «dos personas distintas podrían dar dos descripciones distintas de la misma
# > imagen […] Sin embargo, dos descripciones distintas pueden ser igualmente
# > válidas y esto pone de relieve la importancia de tener buenas métricas»
#
# *two people could give two different descriptions of the same image […] yet
# two different descriptions can be equally valid, which shows how much good
# metrics matter.*
#
# §3.3, on the splits:
#
# > «Estos datasets consisten en 8000, 123000, y 31000 [imágenes],
# > respectivamente. En nuestros experimentos, tomamos 1000 imágenes para
# > validación, 1000 imágenes para pruebas y el resto para entrenamiento»
#
# *These datasets (Flickr8k, MSCOCO, Flickr30k) hold 8000, 123000 and 31000
# images. We take 1000 images for validation, 1000 for testing and the rest for
# training.*
#
# Here: the statistics of the datasets at hand (the built-in shapes set
# always; the Flickr8k text release where this machine has it, in
# `../shared/flickr8k` beside the checkout); the metrics of §1.3 and §5.3 on
# human captions; their agreement with human judgments (Flickr8k only); and
# the results tables of §5, read from the shipped model's files.

# %%
import json
import time

import numpy as np

from companion import FLICKR8K, plt, scratch, shapes_subset, show

from caption import shipped
from caption.data.karpathy import load_karpathy
from caption.metrics import score
from caption.stats import dataset_stats, format_text

started = time.perf_counter()
HAVE_FLICKR8K = (FLICKR8K / "Flickr8k.token.txt").is_file()
print(f"Flickr8k text release at {FLICKR8K}: {'found' if HAVE_FLICKR8K else 'not on this machine'}")

# %% [markdown]
# ## §1.2 The shapes set
#
# `python -m caption.stats` reports images and sentences per split, the
# sentence length (the TODO of §1.2), the vocabulary at each count threshold
# and a length histogram. On the first 1000 / 100 / 200 images of the shapes
# set (the full set is 6000 / 1000 / 1000, generated on first use by any
# command):

# %%
shapes = dataset_stats(load_karpathy(shapes_subset(1000, 100, 200)))
print(format_text(shapes))

# %% [markdown]
# ## §1.2 and §3.3 on Flickr8k
#
# The Flickr8k text release (Hodosh et al. 2013) has the captions and the
# splits, not the images. The project's converter
# (`python -m caption.data.flickr8k TEXT_DIR --out dataset_flickr8k.json`,
# caption/data/flickr8k.py) turns it into Karpathy's split format, tokens as in
# Karpathy's files (lower case, cut at every character that is not a letter or
# a digit). On a machine without the release (a fresh clone has none), this
# section says so and moves on.

# %%
if HAVE_FLICKR8K:
    from caption.data.flickr8k import convert, write_dataset

    flickr_json = scratch("flickr8k") / "dataset_flickr8k.json"
    write_dataset(convert(FLICKR8K), flickr_json, FLICKR8K, force=True)
    flickr = dataset_stats(load_karpathy(flickr_json))
    print(format_text(flickr))
    mean = flickr["all"]["mean_length"]
    print(f"\n§1.2's TODO: «una longitud media de {mean:.2f}» palabras (tokens) por frase")
    assert {s: flickr["splits"][s]["images"] for s in ("train", "val", "test")} == \
        {"train": 6000, "val": 1000, "test": 1000}
else:
    print("No Flickr8k here: its statistics are skipped (the shapes set's are above).")

# %%
figure, axes = plt.subplots(figsize=(7, 3.2))
for name, stats in [("shapes (subset)", shapes)] + ([("Flickr8k", flickr)] if HAVE_FLICKR8K else []):
    hist = {int(k): v for k, v in stats["length_histogram"].items()}
    lengths = np.arange(min(hist), max(hist) + 1)
    counts = np.array([hist[n] for n in lengths], dtype=float)
    axes.plot(lengths, counts / counts.sum(), marker=".", label=f"{name}: mean "
              f"{stats['all']['mean_length']:.1f}")
axes.set(xlabel="sentence length (tokens)", ylabel="share of sentences", title="§1.2: lengths")
axes.legend()
show(figure, "lengths")

# %% [markdown]
# ## §1.3 Two people, two descriptions: the metrics on human captions
#
# Each image has five human captions. Score each one against the other four,
# with the metrics of §5.3 (`caption.metrics.score`, equal to the COCO
# evaluation code's to 1e-9: BLEU-1…4, ROUGE-L, CIDEr-D): a human caption is a
# valid description, yet it scores far from 1, because the others worded it
# differently. That is the ceiling to keep in mind when reading a model's
# scores. (The shapes captions come from a grammar: they agree far more.)

# %%
def one_against_the_others(dataset_images):
    """The metrics of caption 1 of each image against its other captions."""
    references = {i: image.tokens[1:] for i, image in enumerate(dataset_images)}
    hypotheses = {i: image.tokens[0] for i, image in enumerate(dataset_images)}
    return score(references, hypotheses, tokenized=True)


rows = {"shapes, test (200)": one_against_the_others(
    load_karpathy(shapes_subset(1000, 100, 200)).split("test"))}
if HAVE_FLICKR8K:
    rows["Flickr8k, test (1000)"] = one_against_the_others(load_karpathy(flickr_json).split("test"))
print(f"{'caption 1 vs the other four':28s}" + "".join(f"{k:>9s}" for k in
                                                     ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D")))
for name, m in rows.items():
    print(f"{name:28s}" + "".join(f"{m[k]:9.3f}" for k in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D")))

if HAVE_FLICKR8K:
    example = load_karpathy(flickr_json).split("test")[0]
    print(f"\n{example.filename}:")
    for raw in example.raw:
        print("   ", raw)

# %% [markdown]
# ## §1.3 Do the metrics agree with people? (Flickr8k only)
#
# Flickr8k ships human judgments of image–caption pairs: in
# `ExpertAnnotations.txt`, three experts rate how well a caption (often one
# written for another image) describes an image, from 1 («does not describe
# the image at all») to 4 («describes the image»); in
# `CrowdFlowerAnnotations.txt`, the share of crowd workers who said yes. A
# metric agrees with people when it orders the pairs as they do: Kendall's τ
# between the metric's score of each caption and its rating, by the protocol
# of the SPICE paper (Anderson et al. 2016) as CLIPScore (Hessel et al. 2021)
# replicates it: `caption/metrics/agreement.py`, what `python -m
# caption.agreement TEXT_DIR` prints. Here without METEOR (it needs Java and a
# minute more; the command's `--meteor` adds it).

# %%
if HAVE_FLICKR8K:
    from caption.data.flickr8k import read_captions
    from caption.data.flickr8k_judgments import read_crowdflower, read_expert
    from caption.metrics.agreement import PUBLISHED, agreement

    captions = read_captions(FLICKR8K)
    references = {image: list(by_k.values()) for image, by_k in captions.items()}
    result, skipped = agreement(references, read_expert(FLICKR8K, captions),
                                read_crowdflower(FLICKR8K, captions))
    print(f"{'τ x100, ours / published':26s}" + "".join(f"{m:>15s}" for m in
                                                       ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D")))
    for judgments, metrics in result.items():
        print(f"{judgments:26s}" + "".join(
            f"{100 * metrics[m]['tau']:8.1f} / {100 * PUBLISHED[judgments][m]:4.1f}"
            for m in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D")))
    assert all(abs(result[j][m]["tau"] - PUBLISHED[j][m]) < 0.001
               for j in result for m in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D"))
else:
    print("No Flickr8k here: the agreement with human judgments needs its annotation files.")

# %% [markdown]
# All of them agree with people, weakly (τ = 1 would be the same order), and
# CIDEr-D most: it weighs the words that distinguish an image (by their rarity
# across the corpus) more than the n-gram overlaps of BLEU and ROUGE-L. A
# difference in BLEU between two captioners is therefore weaker evidence than
# the same difference in CIDEr-D.

# %% [markdown]
# ## §5 The experiments: results read from the shipped model's files
#
# weights/shapes-captioner is the run of `python -m caption.train` with its
# defaults (config.json), exported without its optimizer state; its
# metrics.json holds the test-split figures (beam 3) and the best constant
# caption, the single sentence that scores highest on the training split,
# said of every test image: the floor any model must clear.

# %%
shipped = shipped.FOLDER / "shapes-captioner"
config = json.loads((shipped / "config.json").read_text())
metrics = json.loads((shipped / "metrics.json").read_text())
constant = metrics["baselines"]["best constant caption"]
print("settings:", {k: config[k] for k in ("cell", "hidden_size", "embed_size", "cnn",
                                           "cnn_channels", "attention", "epochs", "lr",
                                           "batch_size", "beam")})
print(f"\n{'§5.3, shapes test split (1000)':34s}{'LSTM + attention':>18s}"
      f"{'best constant caption':>24s}")
for key in ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"):
    print(f"{key:34s}{metrics[key]:18.3f}{constant[key]:24.3f}")
for key in ("perplexity", "attribute_precision", "attribute_recall"):
    print(f"{key:34s}{metrics[key]:18.3f}")
print(f"\nthe constant caption: “{constant['caption']}”")
assert metrics["CIDEr-D"] > 5 * constant["CIDEr-D"]

# %% [markdown]
# §5.1 (classification) is reproduced in notebook 02 (Fig. 3.5), §5.2
# (retrieval) in notebook 04 beside the README's full-run table, §5.3 in
# notebook 05. On Flickr8k itself the project trains with `--data
# dataset_flickr8k.json` and image features (README, "Reproducing §5.2 on
# Flickr8k"); the images are not in the text release, so no Flickr8k model
# is trained here.

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s")
