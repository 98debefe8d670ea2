"""The project's converted weight files, and the layout changes converters share.

A converted file is an ``nnscratch.io`` HDF5 state dict in our layouts (a
convolution kernel W is (F, C, KH, KW): filters, input channels, kernel rows,
kernel columns, applied as a cross-correlation; a fully-connected W is
(D, M), y = x W + b; fc inputs flattened in (channel, row, column) order),
with metadata saying how to use it: the architecture, the source file, the
preprocessing (see ``preprocess.Preprocessing``) and the 1000 class names.
"""
import numpy as np

import nnscratch.io


class ConversionError(ValueError):
    """A source file that is not what its format promises; names file and layer."""


def hwio_to_oihw(kernel):
    """(KH, KW, C, F), the TensorFlow/Keras order -> our (F, C, KH, KW)."""
    return np.ascontiguousarray(np.asarray(kernel).transpose(3, 2, 0, 1))


def hwio_shape(shape):
    """Our kernel shape (F, C, KH, KW) -> the (KH, KW, C, F) that ``hwio_to_oihw`` takes."""
    filters, channels, rows, columns = shape
    return rows, columns, channels, filters


def hwc_rows_to_chw(W, map_shape):
    """Permute the rows of W (H·W·C, M), flattened from an (H, W, C) map, to (C, H, W) order."""
    height, width, channels = map_shape
    W = np.asarray(W)
    if W.shape[0] != height * width * channels:
        raise ConversionError(f"fc rows: expected {height}*{width}*{channels} = "
                              f"{height * width * channels}, got shape {W.shape}")
    W = W.reshape(height, width, channels, -1).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(W.reshape(height * width * channels, -1))


def write(out, architecture, source, state, preprocessing, class_names):
    """Save ``state`` as float32 with the metadata a net needs to be used (atomically)."""
    if len(class_names) != 1000:
        raise ConversionError(f"'{source}': {len(class_names)} class names, expected 1000")
    state = {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in state.items()}
    metadata = {"architecture": architecture, "source": str(source),
                "preprocessing": preprocessing.to_dict(), "class_names": list(class_names)}
    nnscratch.io.save(out, state, metadata)
