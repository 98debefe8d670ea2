"""The human judgments in the Flickr8k text release (Hodosh et al. 2013): how
well a caption, often one written for another image, describes an image. They
are what ``caption.agreement`` holds the metrics against (thesis §1.3).

    ExpertAnnotations.txt        5822 lines: image, caption id, three expert ratings:
                                 1 the caption does not describe the image at all,
                                 2 it describes minor aspects of it, 3 it almost
                                 describes it (minor mistakes), 4 it describes it
    CrowdFlowerAnnotations.txt   47,830 lines: image, caption id, share of yes votes,
                                 yes votes, no votes ("does the caption describe the
                                 image, possibly with minor mistakes?", three votes or more)

Columns are separated by tabs; a caption id ("image.jpg#k") names a caption of
``Flickr8k.token.txt``. Errors name the file and the line.
"""
from dataclasses import dataclass
from pathlib import Path

from caption.data.flickr8k import parse_caption_id, read_lines
from caption.data.karpathy import DatasetError

EXPERT_FILE = "ExpertAnnotations.txt"
CROWDFLOWER_FILE = "CrowdFlowerAnnotations.txt"
EXPERT_RATINGS = (1, 2, 3, 4)
SHARE_TOLERANCE = 1e-6   # the file's share of yes against yes / (yes + no)


@dataclass(frozen=True)
class Judgment:
    """One judged (image, caption) pair."""
    image: str       # the image file judged
    caption: str     # the candidate caption as written in Flickr8k.token.txt
    ratings: tuple   # the three experts' ratings, or (share of yes votes,)


def _judged_lines(path, captions, n_columns):
    """(line number, image, candidate caption, the remaining columns) for each line."""
    for number, text in read_lines(path):
        columns = text.split("\t")
        if len(columns) != n_columns:
            raise DatasetError(f"{path}: line {number}: expected {n_columns} tab-separated "
                               f"columns, got {len(columns)}")
        image, caption_id, *rest = columns
        if image not in captions:
            raise DatasetError(f"{path}: line {number}: image {image} has no caption in the "
                               f"token file, so no references")
        caption_image, k = parse_caption_id(path, number, caption_id)
        if k not in captions.get(caption_image, {}):
            raise DatasetError(f"{path}: line {number}: caption {caption_id} is not in the "
                               f"token file")
        yield number, image, captions[caption_image][k], rest


def _numbers(path, number, texts, kind):
    try:
        return [kind(t) for t in texts]
    except ValueError:
        raise DatasetError(f"{path}: line {number}: expected {kind.__name__} values, "
                           f"got {texts}") from None


def read_expert(text_dir, captions):
    """ExpertAnnotations.txt -> [Judgment with three ratings in 1..4].

    captions: ``flickr8k.read_captions(text_dir)``, to resolve the caption ids.
    """
    path = Path(text_dir) / EXPERT_FILE
    judgments = []
    for number, image, caption, rest in _judged_lines(path, captions, 5):
        ratings = _numbers(path, number, rest, int)
        if any(r not in EXPERT_RATINGS for r in ratings):
            raise DatasetError(f"{path}: line {number}: ratings {ratings} should be in "
                               f"{EXPERT_RATINGS}")
        judgments.append(Judgment(image, caption, tuple(ratings)))
    return judgments


def read_crowdflower(text_dir, captions):
    """CrowdFlowerAnnotations.txt -> [Judgment with (share of yes votes,)], the share
    checked against the votes."""
    path = Path(text_dir) / CROWDFLOWER_FILE
    judgments = []
    for number, image, caption, rest in _judged_lines(path, captions, 5):
        share, = _numbers(path, number, rest[:1], float)
        yes, no = _numbers(path, number, rest[1:], int)
        if not 0 <= share <= 1:   # nan and inf too
            raise DatasetError(f"{path}: line {number}: share of yes {rest[0]!r} is not a "
                               f"number from 0 to 1")
        if yes < 0 or no < 0 or yes + no == 0 or abs(share - yes / (yes + no)) > SHARE_TOLERANCE:
            raise DatasetError(f"{path}: line {number}: share of yes {share} does not "
                               f"match {yes} yes and {no} no votes")
        judgments.append(Judgment(image, caption, (share,)))
    return judgments
