"""Saving and loading state dicts (path -> array) in HDF5, through h5py.

A key "conv1_1/W" becomes the dataset W inside the group conv1_1, so the
file reads like the model's architecture table (``h5ls -r model.h5``).
Groups remember the order in which entries were written, and ``load``
returns them in that order. Metadata (any JSON-able dict: the vocabulary,
the preprocessing, the training settings) is stored as a JSON string in
the file's attribute "metadata".

Writing is atomic: the file is written under a temporary name in the same
directory, flushed to disk, and then renamed over ``path`` with
``os.replace``, so a crash while saving leaves the previous file whole.
"""
import json
import os
import uuid
from collections import OrderedDict

import h5py
import numpy as np

from .backend import to_cpu

METADATA = "metadata"


class FileFormatError(ValueError):
    """A file that is not what the caller expects; names the file and the key."""


def save(path, state_dict, metadata=None):
    """Write ``state_dict`` (path-style key -> array, on either device) and
    ``metadata`` (a JSON-able dict or None) to the HDF5 file ``path``, atomically."""
    path = os.fspath(path)
    try:
        metadata_json = json.dumps({} if metadata is None else metadata)
    except TypeError as error:
        raise ValueError(f"nnscratch.io.save: metadata for '{path}' is not JSON-able: "
                         f"{error}") from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"nnscratch.io.save: directory '{directory}' does not exist")
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with h5py.File(temporary, "x", track_order=True) as f:
            f.attrs[METADATA] = metadata_json
            for key, value in state_dict.items():
                _write_entry(f, key, value, path)
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync(directory)  # make the rename itself durable


def _write_entry(f, key, value, path):
    """Create the dataset for ``key`` ("a/b/W"), creating groups a and a/b as needed."""
    *groups, name = key.split("/")
    if not name or not all(groups):
        raise ValueError(f"nnscratch.io.save: key '{key}' for '{path}' has an empty part")
    group = f
    for part in groups:
        if part not in group:
            group.create_group(part, track_order=True)
        group = group[part]
        if not isinstance(group, h5py.Group):
            raise ValueError(f"nnscratch.io.save: key '{key}' for '{path}' goes inside "
                             f"'{group.name[1:]}', which is an array, not a group")
    if name in group:
        raise ValueError(f"nnscratch.io.save: key '{key}' for '{path}' clashes with "
                         f"another key")
    group.create_dataset(name, data=to_cpu(value))


def _fsync(path):
    """Flush ``path`` (a file or a directory) from the OS's buffers to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path):
    """The state dict in ``path``: OrderedDict path-style key -> NumPy array,
    in the file's order."""
    state = OrderedDict()
    with _open(path, "load") as f:
        _read_group(f, "", state)
    return state


def _read_group(group, prefix, state):
    for name, item in group.items():
        if isinstance(item, h5py.Group):
            _read_group(item, prefix + name + "/", state)
        else:
            state[prefix + name] = np.asarray(item[()])


def load_metadata(path):
    """The metadata dict saved with ``path`` ({} when there is none)."""
    with _open(path, "load_metadata") as f:
        return json.loads(f.attrs.get(METADATA, "{}"))


def _open(path, caller):
    """``path`` opened for reading, or a clear error naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"nnscratch.io.{caller}: no such file '{path}'")
    if not h5py.is_hdf5(path):
        raise ValueError(f"nnscratch.io.{caller}: '{path}' is not an HDF5 file")
    return h5py.File(path, "r")
