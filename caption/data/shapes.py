"""The built-in synthetic "shapes" dataset: no download, the default of every command.

Flickr8k-shaped (thesis §3.3): 6000 train, 1000 val and 1000 test images,
five captions each, written as a Karpathy split JSON (``dataset_shapes.json``,
with each image's ground-truth ``scene``) and 64x64 PNG files::

    <root>/dataset_shapes.json
    <root>/images/00000.png ...
    <root>/manifest.json       written last: generator version, seed, counts, checksums

Image ``i`` of a split is drawn from ``numpy.random.default_rng([seed, split, i])``,
so the same seed gives the same bytes, and a small subset holds the first
images of the full set. A root is reused when its manifest matches and its
files are all there; otherwise it is generated again, in a temporary folder
renamed into place at the end, so an interrupted run never looks complete.

The default root is ``$NNSCRATCH_CACHE/shapes-v1-seed<seed>`` (the cache
defaults to ``~/.cache/nnscratch``). Scenes are drawn by ``shapes_scene``,
captions written and scored by ``shapes_text``.
"""
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from tqdm import tqdm

from .files import user_folder
from .karpathy import load_karpathy
from .shapes_scene import render, sample_scene
from .shapes_text import attribute_scores, caption_text, write_captions  # noqa: F401 (re-exported)

GENERATOR = "shapes-v1"
SPLITS = ("train", "val", "test")
FULL_COUNTS = (6000, 1000, 1000)
JSON_NAME = "dataset_shapes.json"
IMAGE_DIR = "images"
MANIFEST = "manifest.json"


def default_root(seed=0):
    """Where the full shapes set of ``seed`` is cached."""
    return user_folder() / f"{GENERATOR}-seed{seed}"


def shapes_json(seed=0, progress=True):
    """Path of the full set's JSON, generated on first use (about half a minute; said on
    stderr, with a progress bar, unless ``progress`` is False)."""
    root = default_root(seed)
    if not is_complete(root, seed, FULL_COUNTS):
        if progress:
            print(f"Generating the shapes dataset ({sum(FULL_COUNTS)} images) in {root}; "
                  f"later runs reuse it.", file=sys.stderr)
        build_shapes(root, seed, *FULL_COUNTS, progress=progress)
    return root / JSON_NAME


def load_shapes(seed=0, restval_to_train=False, progress=True):
    """The full shapes set as a karpathy.Dataset (images located, scenes kept)."""
    path = shapes_json(seed, progress)
    return load_karpathy(path, path.parent / IMAGE_DIR, restval_to_train)


def build_shapes(root, seed=0, n_train=6000, n_val=1000, n_test=1000, progress=False):
    """Generate the set into ``root`` unless it is already complete; return its JSON path.

    The set is generated into ``.ROOT.partial-PID`` beside it and renamed into place. A
    Ctrl-C or a SIGTERM meanwhile removes that folder; one left by a process that died
    outright (SIGKILL, a power cut) is removed by the next call.
    """
    root, counts = Path(root), (n_train, n_val, n_test)
    _remove_abandoned(root)
    if not is_complete(root, seed, counts):
        staging = root.with_name(f".{root.name}.partial-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with _sigterm_interrupts():
                _generate(staging, seed, counts, progress)
        except BaseException:          # interrupted (Ctrl-C too): leave no half-written set
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _publish(staging, root, seed, counts)
    return root / JSON_NAME


def _remove_abandoned(root):
    """Delete the staging folders beside ``root`` whose process is gone."""
    for staging in root.parent.glob(f".{root.name}.partial-*"):
        pid = staging.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid):
    """Whether a process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):   # gone; a pid no system gives
        return False
    except PermissionError:                       # another user's
        return True
    return True


@contextlib.contextmanager
def _sigterm_interrupts():
    """Within the block SIGTERM (what ``timeout`` and job schedulers send) raises
    KeyboardInterrupt, as Ctrl-C does, so that the cleanup of the caller runs; unchanged
    where a handler is set already, or outside the main thread."""
    def interrupt(number, frame):
        raise KeyboardInterrupt

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return
    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def is_complete(root, seed, counts):
    """Whether ``root`` holds a finished set of this generator, seed and counts."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest != {**_identity(seed, counts), "json_sha256": manifest.get("json_sha256"),
                    "image_bytes": manifest.get("image_bytes")}:
        return False
    json_path = Path(root) / JSON_NAME
    if not json_path.is_file() or _sha256(json_path) != manifest["json_sha256"]:
        return False
    try:
        return _image_bytes(root, sum(counts)) == manifest["image_bytes"]
    except OSError:
        return False


def _identity(seed, counts):
    return {"generator": GENERATOR, "seed": seed, "counts": dict(zip(SPLITS, counts))}


def _image_name(imgid):
    return f"{imgid:05d}.png"


def _image_bytes(root, total):
    """Total size of the image files (raises OSError if one is missing)."""
    folder = Path(root) / IMAGE_DIR
    return sum(os.stat(folder / _image_name(imgid)).st_size for imgid in range(total))


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _generate(folder, seed, counts, progress):
    """Write images, the JSON, and last the manifest into ``folder``."""
    (folder / IMAGE_DIR).mkdir(parents=True)
    records = []
    bar = tqdm(total=sum(counts), desc="shapes", disable=not progress, file=sys.stderr)
    for split_index, (split, count) in enumerate(zip(SPLITS, counts)):
        for i in range(count):
            rng = np.random.default_rng([seed, split_index, i])
            imgid = len(records)
            scene = sample_scene(rng)
            PILImage.fromarray(render(scene, rng)).save(folder / IMAGE_DIR / _image_name(imgid),
                                                        compress_level=1)
            records.append(_record(imgid, split, scene, write_captions(scene, rng)))
            bar.update()
    bar.close()
    data = {"dataset": "shapes", "generator": GENERATOR, "seed": seed, "images": records}
    (folder / JSON_NAME).write_text(json.dumps(data, separators=(",", ":")))
    manifest = {**_identity(seed, counts), "json_sha256": _sha256(folder / JSON_NAME),
                "image_bytes": _image_bytes(folder, sum(counts))}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _record(imgid, split, scene, captions):
    """One entry of the JSON's "images", in Karpathy's layout plus "scene"."""
    sentids = [imgid * len(captions) + k for k in range(len(captions))]
    sentences = [{"tokens": [w for w in words if w != ","], "raw": caption_text(words),
                  "imgid": imgid, "sentid": sentid}
                 for words, sentid in zip(captions, sentids)]
    return {"filename": _image_name(imgid), "imgid": imgid, "split": split,
            "sentids": sentids, "sentences": sentences, "scene": scene}


def _publish(staging, root, seed, counts):
    """Move the finished ``staging`` folder to ``root`` (which another process may have filled)."""
    if root.exists():
        if is_complete(root, seed, counts):
            shutil.rmtree(staging)
            return
        shutil.rmtree(root)
    try:
        os.rename(staging, root)
    except OSError:
        if not is_complete(root, seed, counts):
            raise
        shutil.rmtree(staging)
