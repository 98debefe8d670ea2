"""The shard files of ``python -m caption.features --shard``: whether a shard's output is
already finished, so that a job array run again (docs/cluster.md) skips it."""
from pathlib import Path

from ..data.features import FeaturesError, read_shard


def shard_complete(path, imgids):
    """True when ``path`` is the finished output of the shard of these imgids (a rerun
    job has nothing to do), False when it does not exist; any other file there raises
    FeaturesError."""
    path = Path(path)
    if not path.exists():
        return False
    in_file = read_shard(path)[1]          # (features, imgids, ...)
    if sorted(in_file.tolist()) != sorted(int(i) for i in imgids):
        raise FeaturesError(f"{path}: exists and is not this shard's output (it holds "
                            f"{len(in_file)} other rows); choose another --out (or delete it)")
    return True
