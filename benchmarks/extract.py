"""Feature extraction over JPEGs, in images per second (issue 21, item 8): what
``python -m caption.features --cnn squeezenet`` does to each image, ours
against a PyTorch twin of the same SqueezeNet holding the same weights
(``build("squeezenet")``, copied into benchmarks/torch_models.py's
``squeezenet`` by ``holding``). Three rows, each over the same ``IMAGES``
files, in batches of ``BATCH`` as the command makes them:

    decode + preprocess  ours: caption/cnn/preprocess.py, ``load_images`` (Pillow) and
                         ``image_to_array`` (224 → 227 bilinear, BGR, minus the mean,
                         channels first), stacked. PyTorch: the same Pillow decode and
                         resize-and-crop (torchvision does not import beside this
                         torch), then channel order, mean and layout in torch.
    network              the preprocessed batches -> the 512-d vectors and fire9's map
                         as 196 regions of 512 channels in float16, as caption.features
                         stores them: ours caption/cnn/extract.py's ``vectors_and_regions``,
                         PyTorch conv1 to fire9, the mean, the transpose and the cast.
    whole                both of the above, a batch at a time, as ``extract.encode``
                         runs them (without its HDF5 writes).

The images are the first ``IMAGES`` files, by name, of the Flickr8k images
beside the checkout (``../shared/flickr8k/images``: 224 × 224 JPEGs, about
25 KB), or, where that folder is absent, as many generated JPEGs of the same
size (smooth random colour fields with grain, quality 90) in a temporary
folder; the rows say which. Run alone: ``python -m benchmarks.extract``.
"""
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from caption.cnn import build
from caption.cnn.extract import REGION_SHAPE, vectors_and_regions
from caption.cnn.preprocess import image_to_array, load_images, resize_and_crop
from nnscratch import Tensor

from . import torch_models
from .timing import Settings, compare, markdown_table

IMAGES, BATCH, SIDE = 64, 16, 224   # BATCH: caption.features' default --batch-size
ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT.parent / "shared" / "flickr8k" / "images"
TARGET = 1.0


def jpegs(n, workdir, shared=SHARED_IMAGES, seed=0):
    """(paths of n JPEGs, what they are): the first n of ``shared`` by name, or n
    generated SIDE × SIDE ones written into ``workdir``."""
    if shared.is_dir():
        paths = sorted(shared.glob("*.jpg"))[:n]
        if len(paths) == n:
            return paths, f"{n} Flickr8k JPEGs"
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((SIDE, SIDE), Image.Resampling.BICUBIC), np.int16)
        grain = rng.integers(-12, 13, smooth.shape, dtype=np.int16)
        path = Path(workdir) / f"generated_{i:04d}.jpg"
        Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths, f"{n} generated {SIDE}×{SIDE} JPEGs (no Flickr8k images here)"


def batches(items):
    return [items[i:i + BATCH] for i in range(0, len(items), BATCH)]


def ours_preprocess(paths, spec):
    """caption/cnn/extract.py's decode and preprocessing of one batch -> (B, 3, S, S)."""
    pictures, _, errors = load_images(paths)
    if errors:
        raise errors[0]
    return np.stack([image_to_array(p, spec) for p in pictures])


def twin_preprocess(paths, spec):
    """The same Pillow decode and resize, then the arithmetic in torch -> (B, 3, S, S)."""
    pictures, _, errors = load_images(paths)
    if errors:
        raise errors[0]
    mean = torch.tensor(spec.mean, dtype=torch.float32)
    std = torch.tensor(spec.std, dtype=torch.float32)
    arrays = []
    for picture in pictures:
        x = torch.from_numpy(np.array(resize_and_crop(picture, spec.input_size))).float()
        x = x.flip(2) if spec.channel_order == "BGR" else x
        arrays.append(((x * spec.scale - mean) / std).permute(2, 0, 1))
    return torch.stack(arrays)


def twin_vectors_and_regions(fire_maps, batch):
    """(vectors (B, 512), regions (B, 196, 512) float16) as NumPy, from torch's fire9."""
    with torch.no_grad():
        maps = fire_maps(batch)
        vectors = maps.mean(dim=(2, 3))
        regions = maps.flatten(2).transpose(1, 2).to(torch.float16)
    return vectors.numpy(), regions.numpy()


def run(settings):
    n = 4 if settings.quick else IMAGES
    net = build("squeezenet")
    fire_maps = torch_models.fire_maps(torch_models.holding(torch_models.squeezenet(), net))
    spec, (L, C) = net.preprocessing, REGION_SHAPE["squeezenet"]
    with tempfile.TemporaryDirectory() as workdir:
        paths, source = jpegs(n, workdir)
        groups = batches(paths)
        arrays = [ours_preprocess(group, spec) for group in groups]
        tensors = [torch.from_numpy(a) for a in arrays]

        def row(case, ours, theirs):
            return compare("extract", f"{case}, {source}", ours, theirs, settings, TARGET,
                           items=n, item="img")
        return [
            row("decode + preprocess",
                lambda: [ours_preprocess(g, spec) for g in groups],
                lambda: [twin_preprocess(g, spec) for g in groups]),
            row(f"network: SqueezeNet to fire9, vectors and {L} × {C} regions (float16), "
                f"batches of {BATCH}",
                lambda: [vectors_and_regions(net, Tensor(a), True) for a in arrays],
                lambda: [twin_vectors_and_regions(fire_maps, t) for t in tensors]),
            row("whole: decode + preprocess + network",
                lambda: [vectors_and_regions(net, Tensor(ours_preprocess(g, spec)), True)
                         for g in groups],
                lambda: [twin_vectors_and_regions(fire_maps, twin_preprocess(g, spec))
                         for g in groups]),
        ]


if __name__ == "__main__":
    print(markdown_table("Feature extraction over JPEGs", run(Settings.make(quick=False))))
