"""What a run was trained on: a digest of its dataset and feature files.

A new run records, in ``RUN/data_digest.json``, the SHA-256 and size of the
files its config names (``data``, the dataset JSON, and ``features``, a
precomputed feature file)::

    {"data": {"path": "/abs/dataset.json", "sha256": "...", "bytes": 123}, "features": null}

``--resume`` compares them with the files as they are now, before it loads
anything, and refuses to go on if one changed: a run resumed on other
captions (or other features) would train on data it never built its
vocabulary from, silently. The built-in shapes set is the project's own,
versioned by its generator and checked by its manifest (caption/data/shapes.py),
so a run on it records nothing. A run written before this file existed has
none, and is resumed unchecked.
"""
import hashlib

from ..data.files import open_regular
from .run_folder import RunError, read_json

DIGEST = "data_digest.json"
FILES = {"data": "the dataset", "features": "the feature file"}
CHUNK = 1 << 20


def file_digest(path):
    """{"path", "sha256", "bytes"} of the regular file ``path`` (OSError if unreadable)."""
    sha, size = hashlib.sha256(), 0
    with open_regular(path) as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return {"path": str(path), "sha256": sha.hexdigest(), "bytes": size}


def digest(config):
    """The digest of the files ``config`` names, for a new run's data_digest.json."""
    return {key: file_digest(config[key]) if config.get(key) else None for key in FILES}


def check_digest(run, config):
    """RunError naming the file if a file the run was trained on changed or is gone."""
    if not run.file(DIGEST).exists():
        return
    recorded = read_json(run.file(DIGEST))
    if not isinstance(recorded, dict):
        raise RunError(f"{run.file(DIGEST)}: expected a JSON object; the file is damaged")
    for key, what in FILES.items():
        before = recorded.get(key)
        if not before or not config.get(key):
            continue
        if not isinstance(before, dict) or not isinstance(before.get("sha256"), str):
            raise RunError(f"{run.file(DIGEST)}: field {key!r} is not a digest; the file is "
                           f"damaged")
        try:
            now = file_digest(config[key])
        except OSError as error:
            raise RunError(f"{config[key]}: {what} of the run cannot be read "
                           f"({error.strerror or error}); it is needed to resume") from None
        if now["sha256"] != before["sha256"]:
            raise RunError(f"{config[key]}: {what} changed since the run started ("
                           f"{before.get('bytes')} bytes then, {now['bytes']} now; SHA-256 "
                           f"differs from {run.file(DIGEST)}); resuming would train on other "
                           f"data: restore the file, or start a new run")
