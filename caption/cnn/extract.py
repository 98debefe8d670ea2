"""Encoding a dataset's images with a frozen pretrained CNN (thesis §3.6.1:
CNN(I), the fc7 of VGG-16, 4096-d; or SqueezeNet's pooled 512-d vector), one
row per imgid, into the HDF5 file of caption/data/features.py.

The work is resumable: rows are written into ``OUT.partial`` together with a
``done`` flag per row, so a run that is killed and started again encodes only
the rows still missing; when every row is done the file is renamed to OUT.
``shard_rows`` cuts the images into contiguous slices (for a job array), and
``merge`` joins the shard files into one. ``cached_features`` keeps one such
file per dataset and CNN in the cache, for training.

Shapes: N images, D feature size, B batch.
"""
import hashlib
import os
import sys
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from nnscratch import Tensor, no_grad
from nnscratch.backend import to_cpu
from nnscratch.io import FileFormatError

from ..data.features import (FeaturesError, check_partial, load_features, read_shard,
                             write_features)
from ..models.device import pick_device
from . import build
from .preprocess import ImageError, image_to_array, load_images

FEATURE_SIZE = {"squeezenet": 512, "vgg16": 4096}   # what each CNN's features() gives


def shard_rows(n_images, i, n):
    """The rows of shard i of n (1 <= i <= n): the i-th of n contiguous slices."""
    bounds = np.linspace(0, n_images, n + 1).astype(int)
    return np.arange(bounds[i - 1], bounds[i])


def _open_partial(path, imgids, dim):
    """The resumable ``.partial`` file for these rows, created if absent (an existing
    one is checked first: caption/data/features.py ``check_partial``)."""
    if path.exists():
        try:
            check_partial(path, imgids, dim)
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
    return f


def encode(images, out, cnn="vgg16", batch_size=16, device="cpu", progress=True):
    """Encode ``images`` (karpathy.Image list) into ``out``; returns the ImageErrors skipped.

    When images are skipped (unreadable), ``out`` is not finished: the rows
    done so far stay in ``out.partial`` and a later run fills the rest.
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    device = pick_device(device)
    net = device.place(build(cnn))
    skipped = []
    with _open_partial(partial, np.array([im.imgid for im in images], dtype=np.int64),
                       FEATURE_SIZE[cnn]) as f:
        todo = np.flatnonzero(~f["done"][:])
        bar = tqdm(total=len(images), initial=len(images) - len(todo), disable=not progress,
                   desc=f"{cnn} features", unit="img")
        for start in range(0, len(todo), batch_size):
            rows = todo[start:start + batch_size]
            pictures, kept, errors = load_images([images[r].path for r in rows])
            skipped += errors
            if kept:
                batch = np.stack([image_to_array(p, net.preprocessing) for p in pictures])
                with no_grad():
                    vectors = to_cpu(net.features(Tensor(device.move(batch))).data)
                done_rows = np.sort(rows[kept])  # h5py writes rows in increasing order
                f["features"][done_rows] = vectors[np.argsort(rows[kept])]
                f["done"][done_rows] = True
                f.flush()
            bar.update(len(rows))
        bar.close()
        complete = bool(f["done"][:].all())
        if complete:
            features, imgids = f["features"][:], f["imgid"][:]
    if complete:
        write_features(out, features, imgids)
        partial.unlink()
    return skipped


def merge(shards, out, dataset=None):
    """Join shard files (each from ``--shard``) into one features file, checked to hold
    every image of ``dataset`` (when given) before it is written."""
    arrays, imgids = [], []
    for path in shards:
        array, ids = read_shard(path, expected_dim=arrays[0].shape[1] if arrays else None)
        arrays.append(array)
        imgids.append(ids)
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
    write_features(out, np.concatenate(arrays), imgids)


def cached_features(dataset, cnn, device="cpu", progress=True):
    """The features of every image of ``dataset``, computed once into the cache.

    The cache file is named by the CNN and a hash of the dataset's JSON path
    and imgids, under $NNSCRATCH_CACHE (default ~/.cache/nnscratch)/features.
    """
    cache = Path(os.environ.get("NNSCRATCH_CACHE") or Path.home() / ".cache" / "nnscratch")
    key = hashlib.sha256(f"{Path(dataset.json_path).resolve()}:"
                         f"{[im.imgid for im in dataset.images]}".encode()).hexdigest()[:16]
    path = cache / "features" / f"{cnn}-{key}.h5"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"Encoding {len(dataset.images)} images with {cnn} into {path} "
              "(once; later runs reuse it)", file=sys.stderr)
        skipped = encode(dataset.images, path, cnn, device=device, progress=progress)
        if skipped:
            raise ImageError(f"{len(skipped)} images", "could not be read: "
                             + "; ".join(str(e) for e in skipped[:5]))
    return load_features(path, dataset, expected_dim=FEATURE_SIZE[cnn])
