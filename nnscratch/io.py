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

Reading treats the file as coming from outside (a checkpoint, weights or
features someone handed over). HDF5 can make a file's contents live
elsewhere, and the readers refuse each such way, since it would let a file
read (and ``caption.export`` pass on) another file of the machine:

- external links and soft links (``h5py.ExternalLink``, ``h5py.SoftLink``):
  every entry must be a hard link, and every object is reached once (a
  hard-linked cycle would never end);
- external storage (a dataset whose bytes are in other files) and virtual
  datasets (assembled from other files' datasets);
- anything that is neither a group nor a dataset (a named datatype);
- arrays that are not numbers: strings, objects, compound records and
  variable-length data (a state dict holds bool, integer or float arrays).

Shapes come from the file's headers, so ``inspect`` and ``load(path,
expected)`` check them before any array is read: a small file that declares
a (10**6, 10**6) dataset is refused, never allocated. The metadata string
is bounded the same way (``MAX_METADATA_BYTES``).

Every problem with the file raises ``FileFormatError`` (a ValueError) naming
the file and, where there is one, the key: not a regular file (a FIFO would
block the reader), not HDF5, truncated or damaged, one of the above, a
missing, unexpected or misshapen key, or metadata that is not a JSON object.
A missing file raises FileNotFoundError.
"""
import json
import os
import re
import stat
import uuid
from collections import OrderedDict
from contextlib import contextmanager

import h5py
import numpy as np

from .backend import to_cpu

__all__ = ["FileFormatError", "save", "inspect", "load", "load_metadata", "MAX_METADATA_BYTES"]

METADATA = "metadata"
MAX_METADATA_BYTES = 64 * 2**20   # 64 MiB; a vocabulary and 1000 class names take < 1 MiB
NUMERIC_KINDS = "biuf"            # bool, signed and unsigned integers, floats
MAX_LISTED = 5                    # keys of each kind named in a message


class FileFormatError(ValueError):
    """An HDF5 file that is not what the reader expects: not HDF5, damaged,
    stored outside itself, or holding other keys, shapes or dtypes. The
    message names the file and the key."""


# -- writing ----------------------------------------------------------------------------

def save(path, state_dict, metadata=None):
    """Write ``state_dict`` (path-style key -> array, on either device) and
    ``metadata`` (a JSON-able dict or None) to the HDF5 file ``path``, atomically.

    The metadata is stored as a fixed-length UTF-8 string, so a reader knows
    its size from the attribute's header before reading it."""
    path = os.fspath(path)
    try:
        metadata_json = json.dumps({} if metadata is None else metadata).encode("utf-8")
    except TypeError as error:
        raise ValueError(f"nnscratch.io.save: metadata for '{path}' is not JSON-able: "
                         f"{error}") from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"nnscratch.io.save: directory '{directory}' does not exist")
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with h5py.File(temporary, "x", track_order=True) as f:
            f.attrs.create(METADATA, metadata_json,
                           dtype=h5py.string_dtype("utf-8", len(metadata_json)))
            for key, value in state_dict.items():
                _write_entry(f, key, value, path)
        _fsync(temporary)
        os.replace(temporary, path)
    except OSError as error:   # named after ``path``, the caller's file, not the temporary one
        if os.path.exists(temporary):
            os.remove(temporary)
        number = error.errno or int((re.search(r"errno = (\d+)", str(error)) or [0, 0])[1])
        reason = error.strerror or (os.strerror(number) if number else
                                    str(error).replace(temporary, path))
        raise OSError(number or None, reason, path) from None
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


# -- reading ----------------------------------------------------------------------------

def inspect(path):
    """What ``path`` holds, from its headers alone: OrderedDict key ->
    (shape, dtype), in the file's order. No array is read.

    Raises FileFormatError for a file the readers refuse (see the module
    docstring), so a file that passes can be loaded."""
    with _open(path) as f:
        return OrderedDict((key, (dataset.shape, dataset.dtype))
                           for key, dataset in _datasets(f, path).items())


def load(path, expected=None, optional=None, skip=()):
    """The state dict in ``path``: OrderedDict key -> NumPy array, in the file's order.

    ``expected`` (key -> shape), when given, is what the file must hold:
    every key, with exactly that shape. ``optional`` (key -> shape) lists
    keys the file may lack, with their shapes when present. ``skip`` names
    arrays or groups ("optimizer" covers "optimizer/0/m") that are not read
    and not returned; their shapes are checked if ``expected`` or
    ``optional`` lists them. Any other key, a missing key or another shape
    raises FileFormatError naming each, before any array is read.
    Without ``expected``, every array not skipped is read whatever its shape.

    A checkpoint of a model and its optimizer, say, is checked with

        expected = {f"model/{k}": p.shape for k, p in model.named_parameters()}
        expected["optimizer/steps"] = ()
        expected["optimizer/counts"] = (len(optimizer.params),)
        optional = {f"optimizer/{i}/{slot}": p.shape
                    for i, p in enumerate(optimizer.params) for slot in optimizer.slot_names}

    and, to use only the model, with ``expected`` of the model keys and
    ``skip=("optimizer",)``.
    """
    with _open(path) as f:
        datasets = _datasets(f, path)
        if expected is not None:
            _check_keys(path, datasets, expected, optional or {}, skip)
        state = OrderedDict()
        for key, dataset in datasets.items():
            if not _is_under(key, skip):
                state[key] = _read(dataset, key, path)
    return state


def load_metadata(path):
    """The metadata dict saved with ``path`` ({} when there is none).

    The attribute must be one UTF-8 string of at most MAX_METADATA_BYTES
    holding a JSON object. A fixed-length string (what ``save`` writes) is
    measured from its header before it is read; a variable-length one (files
    written before) has its bytes in the file's heap, so it is at most the
    file's size, and is measured once read."""
    with _open(path) as f:
        if METADATA not in f.attrs:
            return {}
        attribute = f.attrs.get_id(METADATA)
        string = h5py.check_string_dtype(attribute.dtype)
        if attribute.shape != () or string is None:
            raise FileFormatError(f"'{path}': attribute '{METADATA}' must be one string, "
                                  f"not {attribute.dtype} of shape {attribute.shape}")
        if string.length is not None and string.length > MAX_METADATA_BYTES:
            raise FileFormatError(f"'{path}': attribute '{METADATA}' is {string.length} "
                                  f"bytes, more than the {MAX_METADATA_BYTES} allowed")
        text = f.attrs[METADATA]
    if len(text) > MAX_METADATA_BYTES:
        raise FileFormatError(f"'{path}': attribute '{METADATA}' is {len(text)} long, "
                              f"more than the {MAX_METADATA_BYTES} allowed")
    try:
        metadata = json.loads(text)   # str, or UTF-8 bytes
    except (ValueError, RecursionError) as error:   # UnicodeDecodeError is a ValueError
        raise FileFormatError(f"'{path}': attribute '{METADATA}' is not JSON: "
                              f"{error}") from None
    if not isinstance(metadata, dict):
        raise FileFormatError(f"'{path}': attribute '{METADATA}' holds a JSON "
                              f"{type(metadata).__name__}, not an object")
    return metadata


@contextmanager
def _open(path):
    """``path`` open for reading. A missing file raises FileNotFoundError;
    one that is not a regular HDF5 file, or that HDF5 finds damaged while
    the caller reads it, raises FileFormatError."""
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file '{path}'") from None
    if not stat.S_ISREG(mode):   # a FIFO would block is_hdf5 forever
        raise FileFormatError(f"'{path}' is not a regular file")
    if not h5py.is_hdf5(path):
        raise FileFormatError(f"'{path}' is not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            yield f
    except (OSError, RuntimeError, KeyError) as error:   # how h5py reports a damaged file
        raise FileFormatError(f"'{path}' is damaged or unreadable: {error}") from None


def _datasets(f, path):
    """Every dataset of ``f``: OrderedDict key ("a/b/W") -> h5py.Dataset, depth
    first in the file's order, after refusing what the module docstring lists."""
    datasets = OrderedDict()
    seen = {h5py.h5o.get_info(f.id).addr}
    pending = [(f, name, name) for name in reversed(list(f))]   # a stack: next on top
    while pending:
        group, name, key = pending.pop()
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise FileFormatError(f"'{path}': key '{key}' is a {type(link).__name__}; "
                                  f"links are refused, an entry must be stored in the file")
        item = group.get(name)
        if item is None:
            raise FileFormatError(f"'{path}': key '{key}' cannot be opened (damaged file)")
        address = h5py.h5o.get_info(item.id).addr
        if address in seen:
            raise FileFormatError(f"'{path}': key '{key}' is a second link to an object "
                                  f"already in the file")
        seen.add(address)
        if isinstance(item, h5py.Group):
            pending += [(item, child, f"{key}/{child}") for child in reversed(list(item))]
        elif isinstance(item, h5py.Dataset):
            _check_storage(item, key, path)
            datasets[key] = item
        else:
            raise FileFormatError(f"'{path}': key '{key}' is a {type(item).__name__}, "
                                  f"neither a group nor an array")
    return datasets


def _check_storage(dataset, key, path):
    """Refuse a dataset stored outside the file, or one that does not hold numbers."""
    where = f"'{path}': key '{key}'"
    if dataset.is_virtual:
        raise FileFormatError(f"{where} is a virtual dataset (its data would come from "
                              f"other files); refused")
    if dataset.external:
        files = [name for name, _, _ in dataset.external]
        raise FileFormatError(f"{where} is stored in external files {files}; refused")
    try:
        dtype = dataset.dtype
    except (ValueError, TypeError) as error:   # e.g. a float wider than NumPy's
        raise FileFormatError(f"{where} has a type NumPy cannot hold: {error}") from None
    if dtype.kind not in NUMERIC_KINDS:
        raise FileFormatError(f"{where} holds {_kind_of(dtype)}, not numbers "
                              f"(bool, integer or float arrays only)")


def _kind_of(dtype):
    """A dtype that is not numbers, in words: strings, variable-length, records..."""
    if h5py.check_string_dtype(dtype):
        return "strings"
    if h5py.check_vlen_dtype(dtype) is not None:
        return "variable-length arrays"
    if dtype.names:
        return f"records {dtype}"
    return f"dtype {dtype}"


def _check_keys(path, datasets, expected, optional, skip):
    """Refuse, naming each, another shape, a missing key or an unexpected key."""
    allowed = {**optional, **expected}
    wrong = [f"key '{key}' has shape {dataset.shape}, expected {tuple(allowed[key])}"
             for key, dataset in datasets.items()
             if key in allowed and dataset.shape != tuple(allowed[key])]
    missing = [f"'{key}' {tuple(shape)}" for key, shape in expected.items()
               if key not in datasets]
    unexpected = [f"'{key}' {dataset.shape}" for key, dataset in datasets.items()
                  if key not in allowed and not _is_under(key, skip)]
    problems = ([_listed("", wrong)] if wrong else []) \
        + ([_listed("missing keys ", missing)] if missing else []) \
        + ([_listed("unexpected keys ", unexpected)] if unexpected else [])
    if problems:
        raise FileFormatError(f"'{path}' does not hold what was expected: "
                              + "; ".join(problems))


def _listed(title, items):
    """``title`` and the first MAX_LISTED of ``items``, saying how many more there are."""
    more = f", and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return title + ", ".join(items[:MAX_LISTED]) + more


def _is_under(key, names):
    """Whether ``key`` is one of ``names`` or lies in a group of theirs."""
    return any(key == name or key.startswith(name + "/") for name in names)


def _read(dataset, key, path):
    try:
        return np.asarray(dataset[()])
    except (OSError, RuntimeError) as error:
        raise FileFormatError(f"'{path}': key '{key}' cannot be read: {error}") from None
