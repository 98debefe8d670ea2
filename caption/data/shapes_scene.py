"""Scenes of the synthetic shapes dataset and how they are drawn.

A scene is a list of 1-3 objects, each a dict::

    {"colour": "red", "shape": "circle", "size": "small",
     "row": 0, "col": 2,            # cell of a 3x3 grid, row 0 at the top
     "x": 53, "y": 11, "radius": 7} # centre and radius in pixels

on a 64x64 RGB image. Objects sit in distinct cells; radii are 6-7 px
(small) or 9-10 px (large): the sizes a small CNN can tell apart (DESIGN.md).
With probability ``REPEAT`` an object copies the colour, shape and size of one
drawn before, so that captions sometimes count ("two small red circles").
The background is a random grey with a smooth texture and pixel noise.

Everything random comes from the numpy Generator passed in.
"""
import numpy as np

IMAGE_SIZE = 64
GRID = 3
COLOURS = {"red": (215, 45, 45), "green": (50, 170, 60), "blue": (45, 85, 220),
           "yellow": (230, 210, 50), "purple": (145, 65, 190), "white": (235, 235, 235)}
SHAPES = ("circle", "square", "triangle")
RADII = {"small": (6, 7), "large": (9, 10)}
REPEAT = 0.3
SUPERSAMPLE = 2      # sub-pixel samples per axis, for smooth edges


def sample_scene(rng):
    """A random scene (list of object dicts) of 1 to 3 objects."""
    count = int(rng.integers(1, 4))
    cells = rng.choice(GRID * GRID, size=count, replace=False)
    objects = []
    for cell in cells.tolist():
        if objects and rng.random() < REPEAT:
            model = objects[int(rng.integers(len(objects)))]
            colour, shape, size = model["colour"], model["shape"], model["size"]
        else:
            colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            size = list(RADII)[int(rng.integers(len(RADII)))]
        objects.append(_place(rng, colour, shape, size, *divmod(cell, GRID)))
    return objects


def _place(rng, colour, shape, size, row, col):
    """An object with its radius and its centre jittered inside its cell."""
    low, high = RADII[size]
    radius = int(rng.integers(low, high + 1))
    cell = IMAGE_SIZE / GRID
    slack = max(0, int(cell / 2 - radius - 0.5))   # how far the centre may move
    x = int(round((col + 0.5) * cell)) + int(rng.integers(-slack, slack + 1))
    y = int(round((row + 0.5) * cell)) + int(rng.integers(-slack, slack + 1))
    return {"colour": colour, "shape": shape, "size": size,
            "row": row, "col": col, "x": x, "y": y, "radius": radius}


def render(scene, rng):
    """The scene drawn on a textured background: (64, 64, 3) uint8."""
    image = _background(rng)
    for obj in scene:
        rows, cols, cover = _coverage(obj)
        colour = np.array(COLOURS[obj["colour"]]) + rng.integers(-12, 13, size=3)
        window = image[rows, cols]
        image[rows, cols] = window * (1 - cover[..., None]) + colour * cover[..., None]
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _coverage(obj):
    """The pixel window around an object and the fraction of each pixel it covers.

    Each pixel is sampled at SUPERSAMPLE x SUPERSAMPLE points; the window is the
    object's bounding square, clipped to the image.
    """
    r = obj["radius"]
    top, left = max(obj["y"] - r - 1, 0), max(obj["x"] - r - 1, 0)
    bottom, right = min(obj["y"] + r + 2, IMAGE_SIZE), min(obj["x"] + r + 2, IMAGE_SIZE)
    offsets = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    ys = (np.arange(top, bottom)[:, None] + offsets).reshape(-1) - obj["y"]
    xs = (np.arange(left, right)[:, None] + offsets).reshape(-1) - obj["x"]
    inside = _inside(obj["shape"], xs[None, :], ys[:, None], r)
    cover = inside.reshape(bottom - top, SUPERSAMPLE, right - left, SUPERSAMPLE).mean(axis=(1, 3))
    return slice(top, bottom), slice(left, right), cover


def _inside(shape, dx, dy, r):
    """Boolean mask of the points (dx, dy) from the centre inside the shape."""
    if shape == "circle":
        return dx ** 2 + dy ** 2 <= r ** 2
    if shape == "square":                     # side 1.7 r: about the circle's area
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.85 * r
    if shape == "triangle":                   # apex up at -r, base at +0.8 r, width 2 r
        return (dy <= 0.8 * r) & (np.abs(dx) <= (dy + r) / 1.8)
    raise ValueError(f"render: unknown shape {shape!r}; expected one of {SHAPES}")


def _background(rng):
    """Grey of random brightness and tint, a smooth 5x5 texture, pixel noise."""
    base = rng.uniform(70, 130) + rng.uniform(-10, 10, size=3)
    coarse = rng.normal(0, 12, size=(5, 5, 1))
    position = np.linspace(0, 4, IMAGE_SIZE)
    low = np.minimum(position.astype(int), 3)
    frac = position - low
    rows = coarse[low] * (1 - frac)[:, None, None] + coarse[low + 1] * frac[:, None, None]
    texture = rows[:, low] * (1 - frac)[None, :, None] + rows[:, low + 1] * frac[None, :, None]
    noise = rng.normal(0, 6, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
    return base + texture + noise
