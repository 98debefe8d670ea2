"""Precomputed image features (thesis §3.6.1: the CNN is frozen, so its fc7
vector of each image can be computed once), aligned with a dataset by imgid.

N images, D feature size (4096 for VGG-16's fc7). Two file formats:

- HDF5, as ``python -m caption.features`` writes it (``write_features``):
  dataset "features" (N, D) float32 and dataset "imgid" (N,) int64, one row
  per image of the JSON, in any order.
- neuraltalk's ``vgg_feats.mat``: a MATLAB file whose "feats" is (D, N), one
  column per image in the order of the JSON's "images" list. Reading it needs
  scipy (an optional extra).

The file must hold exactly the dataset's images; a row count or an imgid that
disagrees raises ``ValueError`` naming the file and the first such imgid.
"""
from pathlib import Path

import h5py
import numpy as np


class FeaturesError(ValueError):
    """A feature file that cannot be used; names the file."""


class Features:
    """Feature rows (N, D) float32 with the imgid of each row."""

    def __init__(self, path, array, imgids):
        self.path = Path(path)
        self.array = np.asarray(array, dtype=np.float32)
        self.imgids = np.asarray(imgids, dtype=np.int64)
        self.row_of = {int(imgid): row for row, imgid in enumerate(self.imgids)}

    @property
    def dim(self):
        return self.array.shape[1]

    def for_images(self, images):
        """The rows of ``images`` (a list of karpathy.Image), in their order: (len, D)."""
        return self.array[[self.row_of[image.imgid] for image in images]]


def write_features(path, array, imgids):
    """Write features (N, D) and their imgids (N,) as the HDF5 that ``load_features`` reads."""
    array = np.asarray(array, dtype=np.float32)
    imgids = np.asarray(imgids, dtype=np.int64)
    if array.ndim != 2 or imgids.shape != (array.shape[0],):
        raise ValueError(f"write_features: expected features (N, D) and imgids (N,), "
                         f"got {array.shape} and {imgids.shape}")
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=array)
        f.create_dataset("imgid", data=imgids)


def load_features(path, dataset, expected_dim=None):
    """Read an HDF5 (.h5, .hdf5) or MATLAB (.mat) feature file for ``dataset``."""
    path = Path(path)
    if path.suffix == ".mat":
        array = _read_mat(path)
        if array.shape[1] != len(dataset.images):
            raise ValueError(f"{path}: 'feats' has {array.shape[1]} columns but "
                             f"{dataset.json_path} lists {len(dataset.images)} images")
        return Features(path, array.T, [image.imgid for image in dataset.images])
    array, imgids = _read_h5(path)
    _check_imgids(path, imgids, dataset)
    return Features(path, array, imgids)


def _read_h5(path):
    try:
        with h5py.File(path, "r") as f:
            for name in ("features", "imgid"):
                if name not in f:
                    raise ValueError(f"{path}: missing dataset {name!r} (expected "
                                     f"'features' (N, D) and 'imgid' (N,))")
            array, imgids = f["features"][()], f["imgid"][()]
    except OSError as err:
        raise ValueError(f"{path}: cannot read as HDF5: {err}") from err
    if array.ndim != 2 or imgids.shape != (array.shape[0],):
        raise ValueError(f"{path}: expected 'features' (N, D) and 'imgid' (N,), "
                         f"got {array.shape} and {imgids.shape}")
    return array, imgids


def _read_mat(path):
    try:
        import scipy.io   # optional: only neuraltalk's .mat files need it
    except ImportError as err:
        raise ImportError(f"{path}: reading a .mat feature file needs scipy "
                          f"(pip install scipy)") from err
    try:
        contents = scipy.io.loadmat(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read as a MATLAB file: {err}") from err
    if "feats" not in contents or contents["feats"].ndim != 2:
        raise ValueError(f"{path}: expected a 2-d variable 'feats' (D, N)")
    return contents["feats"]


def _check_imgids(path, imgids, dataset):
    """The file's imgids must be the dataset's, each once."""
    expected = [image.imgid for image in dataset.images]
    if len(imgids) != len(expected):
        raise ValueError(f"{path}: {len(imgids)} feature rows but {dataset.json_path} "
                         f"lists {len(expected)} images")
    in_file = set()
    for imgid in imgids.tolist():
        if imgid in in_file:
            raise ValueError(f"{path}: imgid {imgid} has two feature rows")
        in_file.add(imgid)
    absent = [imgid for imgid in expected if imgid not in in_file]
    if absent:
        raise ValueError(f"{path}: no feature row for imgid {absent[0]} of "
                         f"{dataset.json_path} ({len(absent)} imgids disagree)")
