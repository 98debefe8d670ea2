"""Precomputed image features (thesis §3.6.1: the CNN is frozen, so its fc7
vector of each image can be computed once), aligned with a dataset by imgid.

N images, D feature size (4096 for VGG-16's fc7, 512 for SqueezeNet's pooled
fire9, or any other network's), L regions of C channels. Two file formats:

- HDF5, as ``python -m caption.features`` writes it (``write_features``):
  dataset "features" (N, D) float32 and dataset "imgid" (N,) int64, one row
  per image of the JSON, in any order, and optionally "regions" (N, L, C)
  float16, the CNN's last convolutional map as L region vectors of C
  channels (the regions that soft attention looks at; float16 halves their
  1.6 GB for Flickr8k's 8000 images at 14 × 14 × 512), and nothing else. It is read through
  ``nnscratch.io``, which refuses links, external storage and virtual
  datasets, and the shapes are checked from the headers before any row is
  read, so a file that declares more rows than the dataset has, or another
  D than the CNN gives, is refused without being allocated.
- neuraltalk's ``vgg_feats.mat``: a MATLAB file whose numeric "feats" is
  (D, N), one column per image in the order of the JSON's "images" list.
  Its declared shape is checked the same way (``scipy.io.whosmat``) before
  "feats" alone is loaded. Reading it needs scipy (an optional extra).

The file must hold exactly the dataset's images, and every row must be
finite: a row count, an imgid, a D or a NaN/inf that disagrees raises
``FeaturesError`` naming the file and the first such imgid or key (a file
that is not a safe HDF5 at all raises ``nnscratch.io.FileFormatError``).

``python -m caption.features`` writes its work in progress into a
``.partial`` file and, with ``--shard``, into shard files; ``check_partial``
and ``read_shard`` read those safely.
"""
from pathlib import Path

import numpy as np

import nnscratch.io

# The datasets of each HDF5 layout: the dtype kinds each may have, in words.
FEATURES = {"features": ("fiu", "numbers"), "imgid": ("iu", "integers")}
REGIONS = {"regions": ("f", "floats")}              # optional in every layout
PARTIAL = {**FEATURES, "done": ("b", "booleans")}   # a .partial adds a done flag per row
MATLAB_NUMBERS = ("double", "single", "int8", "int16", "int32", "int64",
                  "uint8", "uint16", "uint32", "uint64")


class FeaturesError(ValueError):
    """A feature file that does not fit the dataset or the CNN; the message
    names the file and the imgid or key."""


class RegionFeatures:
    """The model input of N images for attention: vectors (N, D) float32 and
    regions (N, L, C) float16 (widened to float32 a batch at a time, by the
    task). Indexed by rows like an array: ``inputs[rows]`` is another RegionFeatures."""

    def __init__(self, vectors, regions):
        self.vectors, self.regions = vectors, regions

    def __getitem__(self, rows):
        return RegionFeatures(self.vectors[rows], self.regions[rows])

    def __len__(self):
        return len(self.vectors)

    @property
    def shape(self):
        """(N, D): the shape of the vectors, as of a plain feature array."""
        return self.vectors.shape


def region_scale(regions, sample=1000):
    """The root mean square of the values of ``regions`` (N, L, C), from at most
    ``sample`` images spread over them: the scale that brings a CNN's regions near 1
    (caption/models/precomputed.py)."""
    picked = regions[np.linspace(0, len(regions) - 1, min(sample, len(regions))).astype(int)]
    return float(np.sqrt(np.mean(np.square(picked, dtype=np.float32))))


class Features:
    """Feature rows (N, D) float32 with the imgid of each row, optionally the
    regions (N, L, C) float16 of each image, and the name of the CNN that made
    them when the file records one."""

    def __init__(self, path, array, imgids, regions=None, cnn=None):
        self.path, self.cnn = Path(path), cnn
        self.array = np.asarray(array, dtype=np.float32)
        self.imgids = np.asarray(imgids, dtype=np.int64)
        self.regions = regions
        self.row_of = {int(imgid): row for row, imgid in enumerate(self.imgids)}

    @property
    def dim(self):
        return self.array.shape[1]

    def for_images(self, images):
        """The rows of ``images`` (a list of karpathy.Image), in their order: (len, D),
        or a RegionFeatures when the regions were loaded."""
        rows = [self.row_of[image.imgid] for image in images]
        if self.regions is None:
            return self.array[rows]
        return RegionFeatures(self.array[rows], self.regions[rows])


def write_features(path, array, imgids, regions=None, cnn=None):
    """Write features (N, D), their imgids (N,) and optionally regions (N, L, C)
    as the HDF5 that ``load_features`` reads, atomically (``nnscratch.io.save``),
    with the name of the ``cnn`` that made them in the metadata."""
    array = np.asarray(array, dtype=np.float32)
    imgids = np.asarray(imgids, dtype=np.int64)
    if array.ndim != 2 or imgids.shape != (array.shape[0],):
        raise ValueError(f"write_features: expected features (N, D) and imgids (N,), "
                         f"got {array.shape} and {imgids.shape}")
    state = {"features": array, "imgid": imgids}
    if regions is not None:
        if regions.ndim != 3 or len(regions) != len(array):
            raise ValueError(f"write_features: expected regions (N, L, C) for N = "
                             f"{len(array)}, got {regions.shape}")
        state["regions"] = np.asarray(regions, dtype=np.float16)
    nnscratch.io.save(path, state, {"cnn": cnn} if cnn else None)


def has_regions(path):
    """Whether the HDF5 feature file ``path`` holds regions (from its headers alone); a
    file that cannot be read is left to ``load_features`` to name (False here)."""
    try:
        return Path(path).suffix != ".mat" and "regions" in nnscratch.io.inspect(path)
    except (OSError, ValueError):
        return False


def load_features(path, dataset, expected_dim=None, regions=False, cnn=None):
    """Read an HDF5 (.h5, .hdf5) or MATLAB (.mat) feature file for ``dataset``.

    ``expected_dim``: the D of the CNN the caller chose (4096 for vgg16, 512
    for squeezenet), or None to take the file's D. It is also what bounds D
    before the rows are read, so pass it whenever it is known. ``regions``:
    also read the regions (N, L, C), which the file must then hold. ``cnn``:
    the CNN the caller named, which must be the one the file records (if any).
    """
    path = Path(path)
    if path.suffix == ".mat":
        if regions:
            raise FeaturesError(f"{path}: a MATLAB feature file holds one vector per image, "
                                f"no regions to attend to; make an HDF5 file with "
                                f"python -m caption.features, or train with --attention 0")
        array = _read_mat(path, dataset, expected_dim).T
        imgids = np.asarray([image.imgid for image in dataset.images], dtype=np.int64)
        return Features(path, _finite(path, array, imgids, np.float32, "feature rows"), imgids)
    rows, dim = _feature_shape(path, regions)
    _check_count(path, rows, dataset, f"{rows} feature rows")
    _check_dim(path, dim, expected_dim)
    made_by = nnscratch.io.load_metadata(path).get("cnn")
    if cnn and made_by and cnn != made_by:
        raise FeaturesError(f"{path}: made by {made_by}, not by --cnn {cnn}; leave out --cnn "
                            f"(the file's own is used) or encode the images with {cnn}")
    state = nnscratch.io.load(path, skip=() if regions else ("regions",))
    _check_imgids(path, state["imgid"], dataset)
    array, found = _finite_rows(path, state)
    return Features(path, array, state["imgid"], found,
                    made_by if isinstance(made_by, str) else None)


def read_shard(path, expected_dim=None):
    """The rows of a shard file (``--shard`` output, the HDF5 format above
    for a slice of the images): (features (n, D), imgids (n,), regions (n, L, C)
    or None), checked as ``load_features`` checks a whole file, except for the
    dataset's imgids."""
    path = Path(path)
    _, dim = _feature_shape(path)
    _check_dim(path, dim, expected_dim)
    state = nnscratch.io.load(path)
    array, regions = _finite_rows(path, state)
    return array, state["imgid"], regions


def check_partial(path, imgids, dim, region_shape=None):
    """Check that ``path``, an existing ``.partial`` file of ``python -m
    caption.features``, is the work in progress for ``imgids`` (N,) with a
    CNN of feature size ``dim``: datasets "features" (N, dim) of floats,
    "imgid" (N,) equal to ``imgids``, "done" (N,) bool, "regions" (N, L, C)
    when ``region_shape`` is (L, C), and nothing else.

    The command then writes rows into it, so it must be safe to write too:
    a link, external storage or a virtual dataset (which would send those
    writes to other files) raises FileFormatError. Only "imgid" is read.
    """
    path = Path(path)
    n = len(imgids)
    expected = {"features": (n, dim), "imgid": (n,), "done": (n,)}
    if region_shape is not None:
        expected["regions"] = (n, *region_shape)
    shapes = _declared(path, {**PARTIAL, **REGIONS} if region_shape else PARTIAL)
    if shapes != expected:
        raise FeaturesError(f"{path}: a partial file for other images or another CNN "
                            f"(it declares {shapes}; this run needs {n} rows of {dim}); "
                            f"delete it to start again")
    in_file = nnscratch.io.load(path, skip=("features", "done"))["imgid"]
    if not np.array_equal(in_file, imgids):
        raise FeaturesError(f"{path}: a partial file for other images (its imgids differ); "
                            f"delete it to start again")


def _declared(path, layout, optional=()):
    """The shapes the HDF5 file ``path`` declares, from its headers (no array
    read): {key: shape}. ``layout`` maps each dataset the file must hold, and
    no other but those named in ``optional``, to the dtype kinds it may have."""
    entries = nnscratch.io.inspect(path)
    required = [key for key in layout if key not in optional]
    if not set(required) <= set(entries) <= set(layout):
        also = f" (and optionally {list(optional)})" if optional else ""
        raise FeaturesError(f"{path}: holds the datasets {list(entries)}, expected "
                            f"exactly {required}{also}")
    for key, (_, dtype) in entries.items():
        kinds, words = layout[key]
        if dtype.kind not in kinds:
            raise FeaturesError(f"{path}: dataset '{key}' holds {dtype}, expected {words}")
    return {key: shape for key, (shape, _) in entries.items()}


def _feature_shape(path, regions=False):
    """(N, D) of a features file, whose "imgid" must be (N,) and "regions", if
    there (and it must be when ``regions``), (N, L, C)."""
    if regions and "regions" not in nnscratch.io.inspect(path):
        raise FeaturesError(f"{path}: holds no regions (it was made with --no-regions, or "
                            f"elsewhere), and attention reads them; make it again with "
                            f"python -m caption.features, or train with --attention 0")
    shapes = _declared(path, {**FEATURES, **REGIONS}, optional=() if regions else REGIONS)
    if len(shapes["features"]) != 2 or shapes["imgid"] != shapes["features"][:1]:
        raise FeaturesError(f"{path}: expected 'features' (N, D) and 'imgid' (N,), "
                            f"got {shapes['features']} and {shapes['imgid']}")
    if "regions" in shapes and (len(shapes["regions"]) != 3
                                or shapes["regions"][:1] != shapes["imgid"]):
        raise FeaturesError(f"{path}: expected 'regions' (N, L, C) for N = "
                            f"{shapes['imgid'][0]}, got {shapes['regions']}")
    return shapes["features"]


def _read_mat(path, dataset, expected_dim):
    """The (D, N) numeric variable "feats" of a MATLAB file, its declared shape
    checked before it alone is loaded."""
    try:
        import scipy.io   # optional: only neuraltalk's .mat files need it
    except ImportError as err:
        raise ImportError(f"{path}: reading a .mat feature file needs scipy "
                          f"(pip install scipy)") from err
    if not path.exists():
        raise FileNotFoundError(f"no such file '{path}'")
    if not path.is_file():   # a FIFO would block the reader forever
        raise FeaturesError(f"{path}: not a regular file")
    declared = {name: (shape, kind) for name, shape, kind in _matlab(path, scipy.io.whosmat)}
    if "feats" not in declared:
        raise FeaturesError(f"{path}: no variable 'feats' (D, N); it holds {sorted(declared)}")
    shape, kind = declared["feats"]
    if len(shape) != 2 or kind not in MATLAB_NUMBERS:
        raise FeaturesError(f"{path}: 'feats' is a {kind} of shape {shape}, expected "
                            f"a 2-d numeric (D, N) array")
    _check_count(path, shape[1], dataset, f"'feats' has {shape[1]} columns")
    _check_dim(path, shape[0], expected_dim)
    array = _matlab(path, lambda p: scipy.io.loadmat(p, variable_names=["feats"]))["feats"]
    if array.shape != shape or array.dtype.kind not in "fiu":
        raise FeaturesError(f"{path}: 'feats' loaded as {array.dtype} {array.shape}, "
                            f"but its header declared {kind} {shape}")
    return array


def _matlab(path, read):
    """``read(path)``, with scipy's complaints about the file as FeaturesError."""
    import scipy.io
    try:
        return read(path)
    except NotImplementedError as err:   # MATLAB v7.3 files are HDF5 underneath
        raise FeaturesError(f"{path}: cannot read this MATLAB version ({err}); save "
                            f"'feats' with -v7") from None
    except (OSError, ValueError, scipy.io.matlab.MatReadError) as err:
        raise FeaturesError(f"{path}: cannot read as a MATLAB file: {err}") from None


def _check_count(path, count, dataset, found):
    """The file must have one feature vector per image of ``dataset``."""
    if count != len(dataset.images):
        raise FeaturesError(f"{path}: {found} but {dataset.json_path} lists "
                            f"{len(dataset.images)} images")


def _check_dim(path, dim, expected_dim):
    if expected_dim is not None and dim != expected_dim:
        raise FeaturesError(f"{path}: features are {dim}-d, but the CNN chosen gives "
                            f"{expected_dim}-d vectors (was the file made with another "
                            f"--cnn?)")


def _finite_rows(path, state):
    """(features (N, D) float32, regions (N, L, C) float16 or None) of a loaded HDF5
    feature file's ``state``, each image's values checked finite (``_finite``)."""
    imgids, regions = state["imgid"], state.get("regions")
    if regions is not None:
        regions = _finite(path, regions, imgids, np.float16, "images' regions")
    return _finite(path, state["features"], imgids, np.float32, "feature rows"), regions


def _finite(path, array, imgids, dtype, what):
    """``array`` (N, ...) as ``dtype``, every image's values finite: a NaN or inf (or a
    value beyond ``dtype``'s range) would poison training. ``what`` names an image's
    values in the message: "feature rows", "images' regions"."""
    with np.errstate(over="ignore"):   # what overflows becomes inf, refused below
        array = np.asarray(array, dtype=dtype)
    bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
    if bad.any():
        raise FeaturesError(f"{path}: {int(bad.sum())} of {len(bad)} {what} hold NaN or inf, "
                            f"the first for imgid {int(imgids[np.argmax(bad)])}")
    return array


def _check_imgids(path, imgids, dataset):
    """The file's imgids must be the dataset's, each once."""
    in_file = set()
    for imgid in imgids.tolist():
        if imgid in in_file:
            raise FeaturesError(f"{path}: imgid {imgid} has two feature rows")
        in_file.add(imgid)
    absent = [image.imgid for image in dataset.images if image.imgid not in in_file]
    if absent:
        raise FeaturesError(f"{path}: no feature row for imgid {absent[0]} of "
                            f"{dataset.json_path} ({len(absent)} imgids disagree)")
