"""The Flickr8k text release (Hodosh et al. 2013) into Karpathy's split JSON (thesis §3.3).

The release, in one folder (its ``readme.txt`` says what each file holds)::

    Flickr8k.token.txt          "1000268201_693b08cb0e.jpg#0<TAB>A child in a pink dress ..."
                                40,460 lines: five captions, #0..#4, of 8092 images (one
                                of them, 2258277193_586949ec62.jpg, has its #0 misnamed
                                "...jpg.1#0", so read as a 93rd image with one caption)
    Flickr_8k.trainImages.txt   6000 image file names, one a line
    Flickr_8k.devImages.txt     1000 (Karpathy's "val" split)
    Flickr_8k.testImages.txt    1000

becomes the file ``karpathy.load_karpathy`` reads, written as Karpathy's
``dataset_flickr8k.json`` is:

- the 8000 images of the three lists, train then val then test, each list in
  its own order; the 93 captioned "images" that no list names are left out;
- ``imgid`` 0, 1, ... in that order; the sentences of an image in the order of
  their number #k, ``sentid`` 0, 1, ... running over the whole file;
- ``raw``: the caption as written; ``tokens``: the caption lower-cased and
  cut at every character that is not a letter or a digit, empty pieces
  dropped ("A dog's ball ." -> a, dog, s, ball).

A release that is incomplete or malformed raises ``DatasetError`` naming the
file and the line.

    python -m caption.data.flickr8k TEXT_DIR --out dataset_flickr8k.json [--force]
"""
import argparse
import codecs
import re
import sys
from pathlib import Path

from ..shell.paths import user_path
from .files import OutputError, check_output, open_regular, write_json_atomic
from .karpathy import DatasetError

TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt",
               "val": "Flickr_8k.devImages.txt",
               "test": "Flickr_8k.testImages.txt"}
_CAPTION_ID = re.compile(r"^(?P<image>\S+)#(?P<number>\d+)$")
_WORD = re.compile(r"[^\W_]+")          # a run of letters and digits


def karpathy_tokens(raw):
    """The caption lower-cased and cut at every character that is not a letter or a digit."""
    return _WORD.findall(raw.lower())


def read_lines(path):
    """[(line number, text without its line ending)] of a text file's non-blank lines."""
    try:
        with open_regular(path) as f:
            data = f.read()
    except OSError as err:
        raise DatasetError(f"{path}: cannot read it: {err.strerror or err}") from err
    data = data.removeprefix(codecs.BOM_UTF8)   # an editor's byte-order mark is no text
    lines = []
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DatasetError(f"{path}: line {number}: not UTF-8 text ({err.reason})") from err
        if text.strip():
            lines.append((number, text))
    return lines


def parse_caption_id(path, number, caption_id):
    """'image.jpg#k' -> ('image.jpg', k); errors name the file and the line."""
    match = _CAPTION_ID.match(caption_id)
    if match is None:
        raise DatasetError(f"{path}: line {number}: caption id {caption_id!r} is not "
                           f"'<image file>#<caption number>'")
    return match["image"], int(match["number"])


def read_captions(text_dir):
    """Flickr8k.token.txt -> {image file: {caption number k: caption as written}}, k sorted."""
    path = Path(text_dir) / TOKEN_FILE
    captions, first_seen = {}, {}
    for number, text in read_lines(path):
        caption_id, tab, raw = text.partition("\t")
        if not tab:
            raise DatasetError(f"{path}: line {number}: expected "
                               f"'<image>#<k><TAB><caption>', found no tab")
        image, k = parse_caption_id(path, number, caption_id)
        if not karpathy_tokens(raw):
            raise DatasetError(f"{path}: line {number}: caption {caption_id} has no word")
        if (image, k) in first_seen:
            raise DatasetError(f"{path}: line {number}: caption {caption_id} is given again "
                               f"(first at line {first_seen[image, k]})")
        first_seen[image, k] = number
        captions.setdefault(image, {})[k] = raw
    return {image: dict(sorted(by_k.items())) for image, by_k in captions.items()}


def read_splits(text_dir, captions):
    """{split: [image file, ...]} from the three lists; each image once, each with captions."""
    text_dir = Path(text_dir)
    splits, listed = {}, {}
    for split, name in SPLIT_FILES.items():
        path = text_dir / name
        splits[split] = []
        for number, text in read_lines(path):
            image = text.strip()
            if len(image.split()) != 1:
                raise DatasetError(f"{path}: line {number}: expected one image file name, "
                                   f"got {text!r}")
            if image in listed:
                raise DatasetError(f"{path}: line {number}: {image} is listed again "
                                   f"(first in {listed[image]})")
            if image not in captions:
                raise DatasetError(f"{path}: line {number}: {image} has no caption "
                                   f"in {text_dir / TOKEN_FILE}")
            listed[image] = f"{name}, line {number}"
            splits[split].append(image)
    return splits


def convert(text_dir):
    """The release in ``text_dir`` as a Karpathy split JSON object (a dict)."""
    captions = read_captions(text_dir)
    images, sentid = [], 0
    for split, names in read_splits(text_dir, captions).items():
        for image in names:
            imgid = len(images)
            sentences = [{"tokens": karpathy_tokens(raw), "raw": raw, "imgid": imgid,
                          "sentid": sentid + i} for i, raw in enumerate(captions[image].values())]
            images.append({"filename": image, "imgid": imgid, "split": split,
                           "sentids": [s["sentid"] for s in sentences], "sentences": sentences})
            sentid += len(sentences)
    return {"images": images, "dataset": "flickr8k"}


def write_dataset(dataset, out, text_dir, force=False):
    """Write ``dataset`` to ``out`` atomically; never over an input file, nor over an
    existing file unless ``force`` (caption/data/files.py ``check_output``)."""
    inputs = [Path(text_dir) / name for name in (TOKEN_FILE, *SPLIT_FILES.values())]
    check_output(out, "--out", inputs, force)
    write_json_atomic(out, dataset, indent=None)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m caption.data.flickr8k",
        description="Convert the Flickr8k text release (Flickr8k.token.txt and the "
                    "Flickr_8k.{train,dev,test}Images.txt lists) into Karpathy's split JSON "
                    "(dataset_flickr8k.json): 6000 train, 1000 val, 1000 test images, five "
                    "captions each, tokens lower-cased and cut at every character that is "
                    "not a letter or a digit.")
    parser.add_argument("text_dir", metavar="TEXT_DIR", type=user_path,
                        help="the folder of the unpacked text release (Flickr8k_text)")
    parser.add_argument("--out", default="dataset_flickr8k.json", type=user_path,
                        help="the JSON file to write (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        dataset = convert(args.text_dir)
        write_dataset(dataset, args.out, args.text_dir, args.force)
    except (DatasetError, OutputError, OSError) as err:   # as caption/shell/errors.py does
        print(f"error: {err}", file=sys.stderr)
        return 1
    images = dataset["images"]
    counts = ", ".join(f"{split} {sum(i['split'] == split for i in images)}"
                       for split in SPLIT_FILES)
    sentences = sum(len(image["sentences"]) for image in images)
    print(f"wrote {args.out}: {len(images)} images ({counts}), {sentences} sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
