"""``python -m caption.features``: encode every image of a dataset with a frozen
pretrained CNN (thesis §3.6.1: CNN(I), the fc7 of VGG-16, 4096-d; or
SqueezeNet's pooled 512-d vector) into an HDF5 file, one row per imgid, with
the CNN's last convolutional map beside it for attention (``--no-regions``
leaves it out).

Resumable: a killed run started again encodes only the rows still missing
(``OUT.partial``). ``--shard i/n`` encodes the i-th of n contiguous slices of
the images (for a job array; ``--shard auto`` reads i and n from Slurm's
SLURM_ARRAY_TASK_* variables, caption/shell/slurm.py), and ``--merge`` joins
the shard files into one. The work is in caption/cnn/extract.py. ``--out``
must not exist yet and may not be one of the inputs; a shard whose ``--out``
is already its finished output has nothing to do and exits 0 (a rerun job).
"""
import argparse
import os
import sys

import numpy as np

from .cnn.extract import FEATURE_SIZE, encode, merge, shard_rows
from .cnn.shards import shard_complete
from .data.files import check_output
from .data.karpathy import default_image_root, load_karpathy
from .models.device import DEVICES, pick_device
from .shell.errors import command
from .shell.paths import user_path
from .shell.slurm import slurm_shard
from .shell.threads import add_threads_flag, cpu_threads


MAX_SHARDS = 100_000   # more than any dataset's images would need; not a memory blow-up


def shard(text):
    """An argparse type: "i/n" -> (i, n) with 1 <= i <= n <= MAX_SHARDS, or "auto" (from
    Slurm)."""
    if text == "auto":
        return text
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n (e.g. 2/8), got {text[:40]!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"{text[:40]}: i must be between 1 and n")
    if n > MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"{text[:40]}: at most {MAX_SHARDS} shards")
    return i, n


def batch_size(text):
    """An argparse type: an integer from 1 to 1024."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to 1024, got {text!r}")
    return value


def parser():
    p = argparse.ArgumentParser(prog="python -m caption.features",
                                description="Encode a Karpathy-format dataset's images with a "
                                            "frozen pretrained CNN into an HDF5 feature file "
                                            "(resumable). --merge joins --shard outputs.")
    p.add_argument("--data", required=True, type=user_path, help="Karpathy split JSON")
    p.add_argument("--images", type=user_path,
                   help="image folder (default: an images/ folder beside the JSON, "
                        "or the JSON's own folder)")
    p.add_argument("--cnn", choices=sorted(FEATURE_SIZE), default="squeezenet",
                   help="squeezenet (shipped; the default) or vgg16 (the thesis's; its weights "
                        "must be converted once, see weights/README.md)")
    p.add_argument("--no-regions", dest="regions", action="store_false",
                   help="store only the vectors, not the CNN's last convolutional map "
                        "(14 x 14 x 512 in float16: 200 KB an image) that attention reads")
    p.add_argument("--out", required=True, type=user_path,
                   help="output HDF5 file (must not exist yet)")
    p.add_argument("--batch-size", type=batch_size, default=16, help="images per batch (1 to 1024)")
    p.add_argument("--shard", type=shard, metavar="I/N",
                   help="encode only slice I of N (e.g. 3/8), or auto: this Slurm array "
                        "task's (SLURM_ARRAY_TASK_ID, _COUNT, _MIN); merge the outputs after")
    p.add_argument("--merge", nargs="+", metavar="SHARD", type=user_path,
                   help="join these shard files into --out")
    p.add_argument("--device", choices=DEVICES, default="cpu")
    p.add_argument("--quiet", action="store_true")
    add_threads_flag(p)
    return p


def check_out(args):
    """--out must be a new file, none of the inputs (caption/data/files.py ``check_output``);
    a shard's may exist: main checks that it is this shard's finished output."""
    check_output(args.out, "--out", [args.data, *(args.merge or [])],
                 force=True if args.shard else None)


@command
def main(argv=None):
    args = parser().parse_args(argv)
    check_out(args)
    device = pick_device(args.device).name
    if args.merge:
        merge(args.merge, args.out, load_karpathy(args.data))
        print(f"merged {len(args.merge)} shards into {args.out}")
        return 0
    if args.shard == "auto":
        i, n, how = slurm_shard(os.environ)
        args.shard = (i, n)
        print(f"shard {i}/{n} (from {how})", file=sys.stderr, flush=True)
    dataset = load_karpathy(args.data, args.images or default_image_root(args.data))
    rows = shard_rows(len(dataset.images), *args.shard) if args.shard else np.arange(len(dataset.images))
    if args.shard and shard_complete(args.out, [dataset.images[r].imgid for r in rows]):
        print(f"{args.out} already holds shard {args.shard[0]}/{args.shard[1]}: nothing to do")
        return 0
    with cpu_threads(args.threads, device) as follow_load:
        skipped = encode([dataset.images[r] for r in rows], args.out, args.cnn, args.batch_size,
                         device, progress=not args.quiet, regions=args.regions,
                         between_batches=follow_load)
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
