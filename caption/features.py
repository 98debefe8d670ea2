"""``python -m caption.features``: encode every image of a dataset with a frozen
pretrained CNN (thesis §3.6.1: CNN(I), the fc7 of VGG-16, 4096-d; or
SqueezeNet's pooled 512-d vector) into an HDF5 file, one row per imgid.

The work is resumable: rows are written into ``OUT.partial`` together with a
``done`` flag per row, so a run that is killed and started again encodes only
the rows still missing; when every row is done the file is renamed to OUT
(the format of ``caption.data.features``). ``--shard i/n`` encodes the i-th of
n contiguous slices of the images (for a job array), and ``merge`` joins the
shard files into one.

Shapes: N images, D feature size, B batch.
"""
import argparse
import hashlib
import os
import sys
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from nnscratch import Tensor, no_grad
from nnscratch.backend import GPUUnavailable, require_gpu, to_cpu, to_gpu

from .cnn import build
from .cnn.preprocess import image_to_array, load_images
from .data.features import load_features, write_features
from .data.karpathy import load_karpathy

FEATURE_SIZE = {"squeezenet": 512, "vgg16": 4096}


def shard_rows(n_images, shard):
    """The rows of shard "i/n" (1-based i): the i-th of n contiguous slices."""
    try:
        i, n = (int(part) for part in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 2/8), got {shard!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"--shard {shard}: i must be between 1 and n")
    bounds = np.linspace(0, n_images, n + 1).astype(int)
    return np.arange(bounds[i - 1], bounds[i])


def _open_partial(path, imgids, dim):
    """The resumable ``.partial`` file for these rows, created if absent."""
    if path.exists():
        f = h5py.File(path, "r+")
        if not np.array_equal(f["imgid"][:], imgids) or f["features"].shape[1] != dim:
            f.close()
            raise ValueError(f"{path}: a partial file for other images or another CNN; "
                             "delete it to start again")
        return f
    f = h5py.File(path, "w")
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
    net = build(cnn)
    if device == "gpu":
        require_gpu()
        net.to_gpu()
    move = to_gpu if device == "gpu" else np.asarray
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
                    vectors = to_cpu(net.features(Tensor(move(batch))).data)
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


def merge(shards, out):
    """Join shard files (each from ``--shard``) into one features file."""
    arrays, imgids = [], []
    for path in shards:
        with h5py.File(path, "r") as f:
            arrays.append(f["features"][:])
            imgids.append(f["imgid"][:])
    imgids = np.concatenate(imgids)
    unique, counts = np.unique(imgids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"merge: imgids {unique[counts > 1][:5].tolist()} appear in more than one shard")
    write_features(out, np.concatenate(arrays), imgids)


def cached_features(dataset, cnn, device="cpu"):
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
        skipped = encode(dataset.images, path, cnn, device=device)
        if skipped:
            raise ValueError(f"{len(skipped)} images could not be read: "
                             + "; ".join(str(e) for e in skipped[:5]))
    return load_features(path, dataset)


def parser():
    p = argparse.ArgumentParser(prog="python -m caption.features",
                                description="Encode a Karpathy-format dataset's images with a "
                                            "frozen pretrained CNN into an HDF5 feature file "
                                            "(resumable). 'merge' joins --shard outputs.")
    p.add_argument("--data", required=True, help="Karpathy split JSON")
    p.add_argument("--images", help="image folder (default: the JSON's folder)")
    p.add_argument("--cnn", choices=sorted(FEATURE_SIZE), default="vgg16")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--shard", help="encode only slice i of n (e.g. 3/8); merge the outputs after")
    p.add_argument("--merge", nargs="+", metavar="SHARD", help="join these shard files into --out")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    dataset = load_karpathy(args.data, args.images or Path(args.data).parent)
    if args.merge:
        merge(args.merge, args.out)
        load_features(args.out, dataset)  # checks every image is there, once
        print(f"merged {len(args.merge)} shards into {args.out}")
        return 0
    rows = shard_rows(len(dataset.images), args.shard) if args.shard else np.arange(len(dataset.images))
    try:
        skipped = encode([dataset.images[r] for r in rows], args.out, args.cnn, args.batch_size,
                         args.device, progress=not args.quiet)
    except GPUUnavailable as error:
        raise SystemExit(f"error: {error}")
    for error in skipped:
        print(f"skipped: {error}", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} images skipped; fix or remove them and run again to finish "
              f"{args.out} (the rows done so far are kept)", file=sys.stderr)
        return 1
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
