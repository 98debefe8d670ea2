"""Read a dataset in Karpathy's split JSON (thesis §3.3).

The files ``dataset_flickr8k.json``, ``dataset_flickr30k.json`` and
``dataset_coco.json`` (from Karpathy's neuraltalk) hold::

    {"images": [{"filename": "1000268201_693b08cb0e.jpg",
                 "filepath": "val2014",          # COCO only: subfolder of the image root
                 "imgid": 0,
                 "split": "train",               # train | val | test | restval (COCO)
                 "sentences": [{"tokens": ["a", "child", ...], "raw": "A child ...",
                                "sentid": 0}, ...]}, ...]}

Each image has about five sentences; 1000 images are kept for validation and
1000 for test, the rest train. COCO's "restval" images are usually folded into
train (``restval_to_train=True``), as Karpathy & Fei-Fei do.

Bad input raises ``DatasetError`` (a ValueError) naming the JSON file, the
image (its position, filename and imgid) and the field. Images missing from
the image folder are gathered and reported together.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from .files import read_json

SPLITS = ("train", "val", "test", "restval")
MAX_LISTED = 5   # how many missing images an error message names


class DatasetError(ValueError):
    """A dataset file that cannot be read as a Karpathy split JSON."""


class MissingImages(DatasetError):
    """Images of the JSON that are not under the image root."""


def default_image_root(json_path):
    """Where a dataset's images are when no folder is named: an images/ folder beside
    the JSON if there is one, else the JSON's own folder."""
    beside = Path(json_path).parent
    return beside / "images" if (beside / "images").is_dir() else beside


@dataclass
class Image:
    """One image and its sentences.

    ``path`` (image root / relpath) is None when the dataset was loaded without an image root.
    ``scene`` is the ground truth of a synthetic image (see ``shapes``), else None.
    """
    filename: str
    relpath: str          # path under the image root: "filepath/filename" for COCO
    imgid: int
    split: str
    tokens: list          # list of sentences, each a list of str
    raw: list             # the sentences as written, list of str
    sentids: list         # list of int
    path: Path | None = None
    scene: list | None = None


@dataclass
class Dataset:
    """All images of a split JSON, in the file's order, and the split lists."""
    json_path: Path
    image_root: Path | None
    images: list                                  # every Image, in JSON order
    splits: dict = field(default_factory=dict)    # split name -> list of Image

    def split(self, name):
        """The images of one split ("train", "val", "test", or "restval" when kept)."""
        if name not in self.splits:
            raise DatasetError(f"{self.json_path}: no split {name!r}; "
                               f"the splits are {sorted(self.splits)}")
        return self.splits[name]


def load_karpathy(json_path, image_root=None, restval_to_train=False, images_required=True):
    """Read a Karpathy split JSON into a ``Dataset``.

    json_path:        the dataset_*.json file.
    image_root:       folder holding the images (COCO: holding the ``filepath``
                      subfolders). When given, every image must exist there.
                      When None, images are neither located nor checked.
    restval_to_train: put "restval" images in the train split.
    images_required:  False when the images are only nice to have (training
                      from precomputed features: the report shows those it
                      finds); an image that is missing or refused then keeps
                      ``path`` None instead of raising.
    """
    json_path = Path(json_path)
    records = _read_records(json_path)
    images = [_parse_image(json_path, i, rec) for i, rec in enumerate(records)]
    _check_unique_imgids(json_path, images)
    if restval_to_train:
        for image in images:
            if image.split == "restval":
                image.split = "train"
    if image_root is not None:
        image_root = Path(image_root)
        _locate_images(json_path, image_root, images, images_required)
    splits = {}
    for image in images:
        splits.setdefault(image.split, []).append(image)
    return Dataset(json_path, image_root, images, splits)


def dataset_name(json_path):
    """The file's top-level "dataset" field ("flickr8k", "coco", "shapes"...), or None."""
    return _read_json(Path(json_path)).get("dataset")


def _read_records(json_path):
    """The list under "images", after checking the file parses as JSON."""
    return _read_json(json_path)["images"]


def _read_json(json_path):
    """The dataset file's JSON object, checked to hold a list under "images"."""
    try:
        data = read_json(json_path)
    except OSError as err:
        raise DatasetError(f"{json_path}: cannot read the dataset file: "
                           f"{err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{json_path}: not UTF-8 text (byte {err.start}); save the "
                           f"dataset as UTF-8 JSON") from None
    except json.JSONDecodeError as err:
        raise DatasetError(f"{json_path}: malformed JSON at line {err.lineno}, "
                           f"column {err.colno}: {err.msg}") from None
    except ValueError as err:
        raise DatasetError(f"{json_path}: malformed JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{json_path}: expected an object with a list under "
                           f"\"images\" (Karpathy's split format)")
    return data


def _field(json_path, where, record, name, kind):
    """record[name], checked to be of type ``kind``; errors name the place."""
    if not isinstance(record, dict):
        raise DatasetError(f"{json_path}: {where}: expected an object, got {type(record).__name__}")
    if name not in record:
        raise DatasetError(f"{json_path}: {where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DatasetError(f"{json_path}: {where}: field {name!r} should be "
                           f"{getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _parse_image(json_path, index, record):
    """One entry of "images" -> Image (path not yet located)."""
    where = f"images[{index}]"
    filename = _field(json_path, where, record, "filename", str)
    where = f"images[{index}] ({filename!r})"
    imgid = _field(json_path, where, record, "imgid", int)
    if not 0 <= imgid < 2**63:   # stored as int64 beside the features (caption/data/features.py)
        raise DatasetError(f"{json_path}: {where}: field 'imgid' is {imgid}, expected an "
                           f"integer from 0 to 2**63 - 1")
    where = f"images[{index}] ({filename!r}, imgid {imgid})"
    relpath = _relative_part(json_path, where, "filename", filename)
    if "filepath" in record:
        folder = _field(json_path, where, record, "filepath", str)
        relpath = _relative_part(json_path, where, "filepath", folder) / relpath
    split = _field(json_path, where, record, "split", str)
    if split not in SPLITS:
        raise DatasetError(f"{json_path}: {where}: field 'split' is {split!r}, "
                           f"expected one of {SPLITS}")
    sentences = _field(json_path, where, record, "sentences", list)
    if not sentences:
        raise DatasetError(f"{json_path}: {where}: field 'sentences' is empty")
    tokens, raw, sentids = [], [], []
    for k, sentence in enumerate(sentences):
        at = f"{where}, sentences[{k}]"
        words = _field(json_path, at, sentence, "tokens", list)
        text = _field(json_path, at, sentence, "raw", str)
        sentids.append(_field(json_path, at, sentence, "sentid", int))
        if not text.strip():
            raise DatasetError(f"{json_path}: {at}: field 'raw' is empty or only whitespace")
        if not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise DatasetError(f"{json_path}: {at}: field 'tokens' must be a non-empty "
                               f"list of non-blank words, got {words!r}")
        tokens.append(list(words))
        raw.append(text)
    return Image(filename, relpath.as_posix(), imgid, split, tokens, raw, sentids,
                 scene=_scene(json_path, where, record.get("scene")))


def _scene(json_path, where, scene):
    """The ground truth of a synthetic image (caption/data/shapes_scene.py), or None:
    checked here, when the dataset is read, not when validation first scores it."""
    if scene is None:
        return None
    if not isinstance(scene, list) or not all(
            isinstance(obj, dict) and isinstance(obj.get("colour"), str)
            and isinstance(obj.get("shape"), str) for obj in scene):
        raise DatasetError(f"{json_path}: {where}: field 'scene' should be a list of objects, "
                           f"each with a 'colour' and a 'shape' (strings), got "
                           f"{json.dumps(scene)[:80]}")
    return scene


def _check_unique_imgids(json_path, images):
    seen = {}
    for i, image in enumerate(images):
        if image.imgid in seen:
            raise DatasetError(f"{json_path}: images[{i}] ({image.filename!r}): imgid "
                               f"{image.imgid} repeats that of images[{seen[image.imgid]}]")
        seen[image.imgid] = i


def _relative_part(json_path, where, name, value):
    """A path fragment from the JSON, refused if it could leave the image root."""
    if "\0" in value:
        raise DatasetError(f"{json_path}: {where}: field {name!r} holds a NUL byte, which no "
                           f"file name can")
    part = PurePath(value.replace("\\", "/"))
    if part.is_absolute() or value.startswith(("/", "\\")) or ".." in part.parts:
        raise DatasetError(f"{json_path}: {where}: field {name!r} is {value!r}, which "
                           f"escapes the image root (absolute or with '..')")
    return part


def _locate_images(json_path, image_root, images, required=True):
    """Set each Image.path under image_root; list every missing or refused file at once.

    A file must be a regular file (not a folder, FIFO or device) and, once
    symlinks are resolved, lie inside the image root. Not ``required``: such
    images keep path None.
    """
    if not image_root.is_dir():
        if not required:
            return
        raise DatasetError(f"{json_path}: the image root {image_root} is not a folder")
    root = image_root.resolve()
    problems = {"missing": [], "not a regular file": [], "outside the image root": []}
    for image in images:
        path = image_root / image.relpath
        try:
            real = path.resolve()
        except (OSError, RuntimeError):   # a symbolic link loop (RuntimeError before 3.13)
            problems["not a regular file"].append(image.relpath)
            continue
        problem = ("outside the image root" if not real.is_relative_to(root) else
                   "missing" if not real.exists() else
                   "not a regular file" if not real.is_file() else None)
        if problem is None:
            image.path = path
        else:
            problems[problem].append(image.relpath)
    if not required:
        return
    for problem, names in problems.items():
        if names:
            shown = ", ".join(names[:MAX_LISTED])
            more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            error = MissingImages if problem == "missing" else DatasetError
            raise error(f"{json_path}: {len(names)} of {len(images)} images are "
                        f"{problem} under {image_root}: {shown}{more}")
