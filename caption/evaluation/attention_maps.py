"""Where the caption generator looks, word by word: attention maps drawn over the image.

With attention (``--attention A``, caption/models/captioner.py), each word
is predicted from the LSTM state and from c_t = Σ_l α_tl r_l, an average of
the L regions of the small CNN's last map (8 × 8 = 64 regions over a 64 × 64
image, each 8 × 8 pixels). The weights α_t are computed with the query of
the word just read, so the map that *predicts* word t+1 is the one made
*after reading* word t: having read "red", the model looks at the red
object to say its shape. Each panel is therefore labelled "read -> said".

    steps = attention_steps(model, vocab, image, ids)     # [Step(read, said, weights)]
    draw_attention([(title, pixels, steps), ...], "out.png")

The weights come from ``Captioner.attention_weights``, the same ``attend``
its read-out uses (the model math is written once). Drawing uses Pillow only:
the image, scaled up, is darkened where α is small (a spotlight), and the
region of largest α is outlined.
"""
import pathlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nnscratch import Tensor, no_grad
from nnscratch.backend import to_cpu

from ..cnn.preprocess import load_image, resize_and_crop
from ..data.files import written_aside

PANEL = 128          # pixels of one panel (a 64 x 64 image scaled 2x)
PER_LINE = 10        # panels on one line of the sheet
LABEL = 18           # pixels of text above a panel
TITLE = 20           # pixels of a row's title
FLOOR = 0.2          # brightness where α is 0 (1 where α is largest)
OUTLINE = (0, 255, 255)   # cyan: no shape has that colour
# The image files a sheet may be written as: extension -> Pillow's format.
SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF",
            ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


@dataclass
class Step:
    """One generated word: the word read, the word said after it, and α as a (side, side) grid."""
    read: str
    said: str
    weights: np.ndarray


def has_attention(model):
    """Whether the caption generator reads its image through attention."""
    return hasattr(model, "attention")


def attention_steps(model, vocab, image, ids, ended=True):
    """[Step, ...] for the caption ``ids`` (word ids, without <start>/<end>) of one image.

    image: the model's input for one image (Tensors, as ``model.encode`` takes them:
    pixels (1, 3, S, S), or features and regions). ``ended``: the caption
    was closed by <end> (the last step then says "<end>"); a caption cut at the
    maximum length has no step after its last word. A model without attention raises
    ValueError (``Captioner.attention_weights``).
    """
    tokens = [vocab.start_id] + [int(i) for i in ids]
    with no_grad():
        model.eval()
        code = model.encode(image)
        alpha = to_cpu(model.attention_weights(code, np.array([tokens])).data)[0]    # (T, L)
    side = int(round(np.sqrt(alpha.shape[1])))
    said = tokens[1:] + [vocab.end_id]
    steps = [Step(vocab.words[r], vocab.words[s], alpha[t].reshape(side, side))
             for t, (r, s) in enumerate(zip(tokens, said))]
    return steps if ended else steps[:-1]


def pixels_of(image):
    """The model's float input (1, 3, S, S) in [-1, 1] back to uint8 pixels (S, S, 3)
    (the inverse of caption/models/small_cnn.py ``pixels_to_float``)."""
    x = to_cpu(image.data if isinstance(image, Tensor) else image)[0]
    return np.clip(np.round((x.transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def input_side(cnn):
    """The side of the square a pretrained CNN sees of a photo (None for the small CNN)."""
    from ..cnn import ARCHITECTURES
    return ARCHITECTURES[cnn].DEFAULT_PREPROCESSING.input_size if cnn in ARCHITECTURES else None


def photo_pixels(path, side):
    """The square of a photo that a pretrained CNN sees, as uint8 (side, side, 3): the
    short side scaled to ``side`` and the centre cut (caption/cnn/preprocess.py)."""
    return np.asarray(resize_and_crop(load_image(path), side))


def peak(weights):
    """(row, column) of the region with the largest α in a (side, side) grid."""
    return np.unravel_index(int(np.argmax(weights)), weights.shape)


def spotlight(pixels, weights):
    """A PANEL × PANEL picture: the image darkened where α is small, the peak region outlined."""
    picture = scaled_to_panel(pixels)
    scaled = Image.fromarray((weights / weights.max()).astype(np.float32), mode="F")
    light = np.asarray(scaled.resize((PANEL, PANEL), Image.BILINEAR))[..., None]
    lit = np.asarray(picture, dtype=np.float32) * (FLOOR + (1 - FLOOR) * np.clip(light, 0, 1))
    out = Image.fromarray(lit.astype(np.uint8))
    (r, c), cell = peak(weights), PANEL / weights.shape[0]
    ImageDraw.Draw(out).rectangle([c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1],
                                  outline=OUTLINE)
    return out


def scaled_to_panel(pixels):
    """The image (S, S, 3) uint8 as a PANEL × PANEL picture: a small drawing scaled up
    without smoothing, a photo scaled down with it."""
    smaller = pixels.shape[0] <= PANEL
    return Image.fromarray(pixels).resize((PANEL, PANEL),
                                          Image.NEAREST if smaller else Image.BILINEAR)


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):        # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_attention(rows, path):
    """Write one PNG: per image, its title, the image, then a panel per step (PER_LINE
    panels to a line). rows: [(title, pixels (S, S, 3) uint8, [Step, ...]), ...].
    Returns ``path``."""
    lines = [max(1, -(-(1 + len(steps)) // PER_LINE)) for _, _, steps in rows]
    line_height, width = LABEL + PANEL + 4, PANEL + 4
    columns = min(PER_LINE, 1 + max(len(steps) for _, _, steps in rows))
    sheet = Image.new("RGB", (4 + columns * width, 4 + sum(TITLE + n * line_height for n in lines)),
                      "white")
    pen = ImageDraw.Draw(sheet)
    small, large = _font(12), _font(14)
    top = 4
    for (title, pixels, steps), n in zip(rows, lines):
        pen.text((4, top), title, fill="black", font=large)
        panels = [("image", scaled_to_panel(pixels))]
        panels += [(f"{s.read} -> {s.said}", spotlight(pixels, s.weights)) for s in steps]
        for j, (label, picture) in enumerate(panels):
            left, y = 4 + (j % PER_LINE) * width, top + TITLE + (j // PER_LINE) * line_height
            pen.text((left, y), label, fill="black", font=small)
            sheet.paste(picture, (left, y + LABEL))
        top += TITLE + n * line_height
    with written_aside(path) as aside:   # its folder and name checked by caption.describe
        sheet.save(aside, format=SUFFIXES[pathlib.Path(path).suffix.lower()])
    return path
