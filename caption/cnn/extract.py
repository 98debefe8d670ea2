"""Encoding a dataset's images with a frozen pretrained CNN (thesis §3.6.1:
CNN(I), the fc7 of VGG-16, 4096-d; or SqueezeNet's pooled 512-d vector), one
row per imgid, into the HDF5 file of caption/data/features.py; with
``regions``, beside each vector the CNN's last convolutional map (VGG-16's
conv5_3, SqueezeNet's fire9: 14 × 14 × 512 each) as 196 region vectors in
float16, for soft attention (Xu et al. 2015).

The work is resumable: rows are written into ``OUT.partial`` together with a
``done`` flag per row, so a run that is killed and started again encodes only
the rows still missing; when every row is done the file is renamed to OUT.
``shard_rows`` cuts the images into contiguous slices (for a job array), and
``merge`` joins the shard files into one. ``cached_features`` keeps one such
file per dataset and CNN in the cache, for training.

Shapes: N images, D feature size, B batch, L regions of C channels.
"""
import contextlib
import hashlib
import os
import sys
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from nnscratch import Tensor, no_grad
from nnscratch.backend import to_cpu
import nnscratch.io
from nnscratch.io import FileFormatError

from ..data.features import (FeaturesError, check_partial, load_features, read_shard,
                             write_features)
from ..data.files import exclusive, user_folder
from ..models.device import pick_device
from . import build, default_weights
from .preprocess import ImageError, image_to_array, load_images

FEATURE_SIZE = {"squeezenet": 512, "vgg16": 4096}   # what each CNN's features() gives
REGION_SHAPE = {"squeezenet": (196, 512), "vgg16": (196, 512)}   # (L, C) of the last map


def shard_rows(n_images, i, n):
    """The rows of shard i of n (1 <= i <= n): the i-th of n contiguous slices."""
    bounds = np.linspace(0, n_images, n + 1).astype(int)
    return np.arange(bounds[i - 1], bounds[i])


def _open_partial(path, imgids, dim, region_shape=None):
    """The resumable ``.partial`` file for these rows, created if absent (an existing
    one is checked first: caption/data/features.py ``check_partial``)."""
    if path.exists():
        try:
            check_partial(path, imgids, dim, region_shape)
        except FileFormatError as error:
            raise FeaturesError(f"{error}; it is the work file of an interrupted run: delete "
                                f"it to start again") from None
        return h5py.File(path, "r+")
    try:
        f = h5py.File(path, "w")
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else "HDF5 cannot create it"
        raise FeaturesError(f"{path}: cannot write there ({reason})") from None
    f.create_dataset("features", (len(imgids), dim), dtype=np.float32)
    f.create_dataset("imgid", data=imgids)
    f.create_dataset("done", (len(imgids),), dtype=bool)
    if region_shape is not None:
        f.create_dataset("regions", (len(imgids), *region_shape), dtype=np.float16,
                         chunks=(1, *region_shape))
    return f


def vectors_and_regions(net, batch, regions):
    """A preprocessed batch (B, 3, S, S) -> (vectors (B, D), regions (B, L, C) float16
    or None), on the CPU."""
    with no_grad():
        if not regions:
            return to_cpu(net.features(batch).data), None
        vectors, maps = net.features_and_map(batch)
    maps = to_cpu(maps.data)
    return to_cpu(vectors.data), maps.reshape(*maps.shape[:2], -1).transpose(0, 2, 1).astype(
        np.float16)


def encode(images, out, cnn="vgg16", batch_size=16, device="cpu", progress=True,
           regions=True, between_batches=None):
    """Encode ``images`` (karpathy.Image list) into ``out``; returns the ImageErrors skipped.

    ``regions``: store the last convolutional map beside each vector.
    ``between_batches``, if given, is called after each batch (the CPU threads following
    the machine's load: caption/shell/threads.py). When
    images are skipped (unreadable), ``out`` is not finished: the rows done
    so far stay in ``out.partial`` and a later run fills the rest. One
    process at a time: a second one meanwhile gets FeaturesError (``_one_writer``).
    """
    with _one_writer(Path(out)):
        return _encode_rows(images, out, cnn, batch_size, device, progress, regions,
                            between_batches or (lambda: None))


@contextlib.contextmanager
def _one_writer(out):
    """Hold ``out`` for this process while it encodes: a second process meanwhile gets
    FeaturesError saying so (not that the live ``.partial`` file is damaged).

    An advisory lock (flock) on ``.OUT.lock`` beside it, which the system releases
    however the process ends; the lock file is removed once ``out`` is finished. Whoever
    takes the lock looks at ``out`` again: another process may have finished it meanwhile.
    """
    lock = out.with_name(f".{out.name}.lock")
    with exclusive(lock, FeaturesError(f"{out}.partial: another process is encoding it now; "
                                       f"let it finish (or stop it) first")):
        if out.exists():
            raise FeaturesError(f"{out}: another process finished it meanwhile")
        yield
        if out.exists():
            lock.unlink(missing_ok=True)


def _encode_rows(images, out, cnn, batch_size, device, progress, regions, between_batches):
    """``encode``, once ``out`` is held."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    device = pick_device(device)
    net = device.place(build(cnn))
    skipped = []
    with _open_partial(partial, np.array([im.imgid for im in images], dtype=np.int64),
                       FEATURE_SIZE[cnn], REGION_SHAPE[cnn] if regions else None) as f:
        todo = np.flatnonzero(~f["done"][:])
        bar = tqdm(total=len(images), initial=len(images) - len(todo), disable=not progress,
                   desc=f"{cnn} features", unit="img")
        for start in range(0, len(todo), batch_size):
            rows = todo[start:start + batch_size]
            pictures, kept, errors = load_images([images[r].path for r in rows])
            skipped += errors
            if kept:
                batch = np.stack([image_to_array(p, net.preprocessing) for p in pictures])
                vectors, maps = vectors_and_regions(net, Tensor(device.move(batch)), regions)
                done_rows = np.sort(rows[kept])  # h5py writes rows in increasing order
                order = np.argsort(rows[kept])
                f["features"][done_rows] = vectors[order]
                if regions:
                    f["regions"][done_rows] = maps[order]
                f["done"][done_rows] = True
                f.flush()
            bar.update(len(rows))
            between_batches()
        bar.close()
        complete = bool(f["done"][:].all())
        if complete:
            features, imgids = f["features"][:], f["imgid"][:]
            maps = f["regions"][:] if regions else None
    if complete:
        write_features(out, features, imgids, maps, cnn)
        partial.unlink()
    return skipped


def merge(shards, out, dataset=None):
    """Join shard files (each from ``--shard``) into one features file, checked to hold
    every image of ``dataset`` (when given) before it is written."""
    arrays, imgids, maps = [], [], []
    cnns = {nnscratch.io.load_metadata(path).get("cnn") for path in shards}
    if len(cnns) > 1:
        raise FeaturesError(f"merge: the shards were made by different CNNs "
                            f"({sorted(map(str, cnns))})")
    for path in shards:
        array, ids, regions = read_shard(path, expected_dim=arrays[0].shape[1] if arrays else None)
        if maps and _layout(regions) != _layout(maps[0]):
            raise FeaturesError(f"merge: {path} and {shards[0]} disagree on the regions "
                                f"(made with and without --no-regions, or by other CNNs)")
        arrays.append(array)
        imgids.append(ids)
        maps.append(regions)
    imgids = np.concatenate(imgids)
    unique, counts = np.unique(imgids, return_counts=True)
    if (counts > 1).any():
        raise FeaturesError(f"merge: imgids {unique[counts > 1][:5].tolist()} appear in more "
                            f"than one shard")
    if dataset is not None:
        absent = sorted({image.imgid for image in dataset.images} - set(unique.tolist()))
        if absent or len(unique) != len(dataset.images):
            raise FeaturesError(f"merge: the shards hold {len(unique)} images, "
                                f"{dataset.json_path} lists {len(dataset.images)}"
                                + (f" (imgid {absent[0]} is in none)" if absent else ""))
    write_features(out, np.concatenate(arrays), imgids,
                   None if maps[0] is None else np.concatenate(maps), cnns.pop())


def _layout(regions):
    """(L, C) of a shard's regions, or None without them."""
    return None if regions is None else regions.shape[1:]


def cache_key(dataset, cnn, regions):
    """A digest of what the features of ``dataset`` depend on: the CNN and its weight
    file (path, size, modification time), whether the regions are kept, and every
    image's imgid, resolved path, size and modification time; another picture under
    the same name, or a changed file, gives another key."""
    def stamp(path):
        info = os.stat(path)
        return f"{Path(path).resolve()}:{info.st_size}:{info.st_mtime_ns}"
    parts = [cnn, str(bool(regions)), stamp(default_weights(cnn))]
    parts += [f"{image.imgid}={stamp(image.path)}" for image in dataset.images]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cached_features(dataset, cnn, device="cpu", progress=True, regions=False):
    """The features of every image of ``dataset`` (with ``regions``, their regions
    too), computed once into the cache.

    The cache file is named by the CNN and ``cache_key``, under
    $NNSCRATCH_CACHE (default ~/.cache/nnscratch)/features.
    """
    path = user_folder() / "features" / f"{cnn}-{cache_key(dataset, cnn, regions)}.h5"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"Encoding {len(dataset.images)} images with {cnn} into {path} "
              "(once; later runs reuse it)", file=sys.stderr)
        skipped = encode(dataset.images, path, cnn, device=device, progress=progress,
                         regions=regions)
        if skipped:
            raise ImageError(f"{len(skipped)} images", "could not be read: "
                             + "; ".join(str(e) for e in skipped[:5]))
    return load_features(path, dataset, expected_dim=FEATURE_SIZE[cnn], regions=regions)
