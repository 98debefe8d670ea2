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
# # §3.4 Convolutional networks, and Fig. 3.5 (§5.1)
#
# The thesis, §3.4, on the convolution layer:
#
# > «En esta capa implementa la operación convolución. En ella, un filtro o
# > *kernel* se va desplazando y aplicándose sobre zonas de la imagen,
# > produciendo lo que se denomina mapa de características de la imagen, y que
# > intuitivamente resume la información de esa parte de la imagen. […] Los
# > hiperparámetros para esta arquitectura son el tamaño del kernel, el número de
# > estos que vamos a utilizar, el stride […] y el padding.»
#
# *This layer implements the convolution: a filter or kernel slides over the
# image and is applied to regions of it, producing what is called a feature
# map, which intuitively summarises that part of the image. Its
# hyperparameters are the kernel size, the number of kernels, the stride and
# the padding.*
#
# and, §3.6.1, on Fig. 3.5:
#
# > «Aunque la clasificación es buena, observamos que en la primera imagen la
# > red detecta que aparece un violín, pero no la persona que lo toca. Esto se
# > debe a que el desafío de ImageNet […] no cuenta con categorías como
# > "hombre", "mujer" o similares.»
#
# *Although the classification is good, in the first image the network finds
# the violin but not the person playing it: ImageNet has no class such as
# "man" or "woman".*
#
# Here: a convolution written as loops, then as im2col and one matrix product,
# timed against `F.conv2d` (`nnscratch/functions/conv.py`); its gradient
# checked; the filters of SqueezeNet's first layer and what they respond to;
# and Fig. 3.5 again, top-5 ImageNet classes with bars, for photos that ship
# with scikit-image. The thesis uses VGG-16 (§3.4.1, Fig. 3.4; 528 MB of
# weights, not available offline); SqueezeNet v1.1 (`caption/cnn/squeezenet.py`,
# 1.2 M parameters, converted on first use from the `ndf` package) stands in.

# %%
import pathlib
import time

import numpy as np
import skimage

from companion import plt, show

import nnscratch.functional as F
from nnscratch import Tensor, no_grad
from nnscratch.gradcheck import gradcheck
from nnscratch.reference.conv import conv2d_loops

started = time.perf_counter()
rng = np.random.default_rng(0)

# %% [markdown]
# ## A convolution, three ways
#
# With x̃ the input padded by zeros, for filter f at output position (i, j):
#
#     y[n, f, i, j] = b[f] + Σ_{c, ky, kx} W[f, c, ky, kx] · x̃[n, c, i·s + ky, j·s + kx]
#
# 1. **Loops** (`nnscratch/reference/conv.py`, the tests' oracle): one window
#    at a time, exactly the formula.
# 2. **im2col**: copy every window into a column, once; then all the filters
#    against all the windows is a single matrix product,
#    (F, C·KH·KW) × (C·KH·KW, OH·OW).
# 3. **`F.conv2d`**: the library's op, which is the same im2col idea with a
#    strided view instead of a Python loop over (ky, kx).

# %%
def conv2d_im2col(x, W, b, stride=1, pad=0):
    """The convolution as im2col and one matrix product (for study; F.conv2d is the op)."""
    N, C, H, Wd = x.shape
    Fn, _, KH, KW = W.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    OH, OW = (H + 2 * pad - KH) // stride + 1, (Wd + 2 * pad - KW) // stride + 1
    cols = np.empty((N, C, KH, KW, OH, OW))
    for ky in range(KH):                 # one slice per kernel offset, not per window
        for kx in range(KW):
            cols[:, :, ky, kx] = padded[:, :, ky:ky + stride * OH:stride, kx:kx + stride * OW:stride]
    cols = cols.reshape(N, C * KH * KW, OH * OW)
    y = W.reshape(Fn, -1) @ cols + b[:, None]          # (N, F, OH·OW): the one product
    return y.reshape(N, Fn, OH, OW)


x = rng.standard_normal((2, 3, 32, 32))
W = rng.standard_normal((8, 3, 3, 3))
b = rng.standard_normal(8)
timings = {}
for name, conv in [("loops", conv2d_loops), ("im2col + product", conv2d_im2col),
                   ("F.conv2d", lambda *a, **k: F.conv2d(*a, **k).data)]:
    start = time.perf_counter()
    y = conv(x, W, b, stride=1, pad=1)
    timings[name] = (time.perf_counter() - start, y)
reference = timings["loops"][1]
for name, (seconds, y) in timings.items():
    assert np.allclose(y, reference), name
    print(f"{name:18s} {1000 * seconds:8.2f} ms   x{timings['loops'][0] / seconds:7.0f}")

# %% [markdown]
# The three agree to rounding. The loop version makes N·F·OH·OW = 16 384 small
# NumPy calls; im2col makes nine slices and one product, which the BLAS library
# runs at the speed of the machine (benchmarks/RESULTS.md compares F.conv2d with
# PyTorch on this CPU).
#
# ## The backward pass, checked
#
# The gradient of the convolution is itself a convolution (with the filters
# flipped, for ∂x) and a product with the same columns (for ∂W); `gradcheck`
# confirms the hand-written backward on a small case, stride 2 and padding 1.

# %%
assert gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride=2, pad=1),
                 [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)),
                  rng.standard_normal(3)])
print("gradcheck: conv2d's backward matches central differences")

# %% [markdown]
# ## SqueezeNet's first layer
#
# The first convolution of a network trained on ImageNet learns, by itself,
# detectors of edges and of colours, as Krizhevsky et al. 2012 showed for
# AlexNet. SqueezeNet's conv1 has 64 filters of 3 × 3 pixels over the three
# colour channels (stride 2); drawn as small colour patches (the weights are in
# BGR order, as Caffe trained them, so they are flipped to RGB here):

# %%
from caption.cnn import build, preprocess   # noqa: E402

net = build("squeezenet")                   # converts $NNSCRATCH_CACHE/weights/squeezenet.h5 once
filters = net.conv1.W.data                  # (64, 3, 3, 3), BGR
print(f"conv1: {filters.shape}, stride 2; the network has "
      f"{sum(p.data.size for p in net.parameters()):,} parameters")
patches = filters[:, ::-1].transpose(0, 2, 3, 1)          # RGB, (64, 3, 3, 3) as H W C
patches = (patches - patches.min(axis=(1, 2, 3), keepdims=True))
patches /= patches.max(axis=(1, 2, 3), keepdims=True)
figure, axes = plt.subplots(4, 16, figsize=(10, 2.8))
for patch, ax in zip(patches, axes.flat):
    ax.imshow(patch, interpolation="nearest")
    ax.axis("off")
figure.suptitle("the 64 filters of SqueezeNet's conv1 (each scaled to its own range)")
show(figure, "conv1-filters")

# %% [markdown]
# What they compute: the ReLU of conv1 on a photo (chelsea, the cat that ships
# with scikit-image), for the six filters with the largest mean response,
# then a 3 × 3 max-pooling with stride 2 (§3.4: «una capa de pooling reemplaza
# la salida de la red para una cierta zona de la imagen por un resumen de las
# salidas cercanas», *a pooling layer replaces the output over a region by a
# summary of the nearby outputs*).

# %%
PHOTOS = pathlib.Path(skimage.__file__).parent / "data"
cat = str(PHOTOS / "chelsea.png")
with no_grad():
    maps = F.relu(F.conv2d(Tensor(preprocess([cat], net)), net.conv1.W, net.conv1.b, stride=2))
    pooled = F.max_pool2d(maps, 3, stride=2, ceil_mode=True)
strongest = np.argsort(-maps.data[0].mean(axis=(1, 2)))[:6]
figure, axes = plt.subplots(2, 7, figsize=(12, 3.8), layout="constrained")
axes[0, 0].imshow(plt.imread(cat))
axes[0, 0].set_title("the photo")
axes[1, 0].axis("off")
for k, channel in enumerate(strongest, start=1):
    axes[0, k].imshow(maps.data[0, channel], cmap="gray")
    axes[0, k].set_title(f"filter {channel}")
    axes[1, k].imshow(pooled.data[0, channel], cmap="gray")
axes[0, 1].set_ylabel(f"conv1, ReLU\n{maps.shape[2]} x {maps.shape[3]}")
axes[1, 1].set_ylabel(f"max-pooled\n{pooled.shape[2]} x {pooled.shape[3]}")
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
show(figure, "feature-maps")

# %% [markdown]
# ## Fig. 3.5 reproduced: the top five classes of each photo
#
# p = softmax(scores) over the 1000 ImageNet classes (§3.4: «La última capa
# […] cuya salida se pasa a un clasificador (softmax)»). The command line does
# the same: `python -m caption.classify PHOTO --top 5`.

# %%
names = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png"]
paths = [str(PHOTOS / name) for name in names]
with no_grad():
    probabilities = F.softmax(net(Tensor(preprocess(paths, net))), axis=-1).data
top5 = np.argsort(-probabilities, axis=1)[:, :5]
figure, axes = plt.subplots(2, len(names), figsize=(14, 6), layout="constrained",
                            gridspec_kw={"height_ratios": [3, 2]})
for k, (name, path) in enumerate(zip(names, paths)):
    axes[0, k].imshow(plt.imread(path), cmap="gray")
    axes[0, k].set_title(name)
    axes[0, k].axis("off")
    labels = [net.class_names[i].split(",")[0] for i in top5[k]]
    axes[1, k].barh(range(5)[::-1], probabilities[k, top5[k]], color="tab:blue")
    axes[1, k].set_yticks(range(5)[::-1], labels)
    axes[1, k].set_xlim(0, 1)
for name, row in zip(names, top5):
    print(f"{name:20s} " + "; ".join(f"{net.class_names[i].split(',')[0]} "
                                     f"{probabilities[names.index(name), i]:.0%}" for i in row))
figure.suptitle("Fig. 3.5 of the thesis, with SqueezeNet v1.1: top-5 ImageNet classes")
show(figure, "fig-3-5")

# %% [markdown]
# The cat is a cat (three cat breeds share the probability), the coffee an
# espresso, the motorcycle a scooter. The astronaut is the thesis's violinist
# again: ImageNet has no class for a person, so the network names objects it
# can find (barbell, stethoscope…), with low confidence.

# %%
top_names = [[net.class_names[i] for i in row] for row in top5]
assert any("cat" in n for n in top_names[1][:3])
assert top_names[2][0] == "espresso"
assert any("scooter" in n or "moped" in n for n in top_names[3][:3])
print(f"notebook ran in {time.perf_counter() - started:.1f} s")
