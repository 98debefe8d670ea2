"""Convert released VGG-16 ImageNet weights into this project's weight files.

Each reader returns our state dict (path-style keys, "conv1_1/W") in our
layouts (see ``weightfile``), the preprocessing the weights were trained
with, and the 1000 class names. What differs in each source:

- Lasagne Recipes vgg16.pkl (from Caffe; the thesis's source): its VGG-16
  used Conv2DDNNLayer, later Conv2DLayer(flip_filters=False), so the kernels
  are stored for cross-correlation, as here, and (F, C, KH, KW) already;
  DenseLayer W is (D, M) already. Images BGR minus the file's 'mean value'.
- Keras vgg16_weights_tf_dim_ordering_tf_kernels.h5: kernels (KH, KW, C, F);
  fc1 (our fc6) flattens a (7, 7, 512) channels-last map, so its rows are in
  (row, column, channel) order and are permuted to (channel, row, column).
  Images BGR minus [103.939, 116.779, 123.68] ("caffe" preprocessing).
- torchvision vgg16-397923af.pth: kernels (F, C, KH, KW) already; nn.Linear
  weights are (M, D) -> transposed. Images RGB scaled to 0..1, minus the
  mean [0.485, 0.456, 0.406], divided by the std [0.229, 0.224, 0.225].

Command line (see weights/README.md for where each file comes from):

    python -m caption.cnn.convert --from lasagne|keras|torchvision SRC [--out FILE]
"""
import argparse
import os
import pickle
import sys

import numpy as np

import nnscratch.io

from ..data.files import check_output, written_aside
from ..shell.errors import command
from ..shell.paths import user_path
from . import WEIGHTS_DIR, build, safe_pickle, vgg16
from .labels import imagenet_class_names
from .preprocess import Preprocessing
from .weightfile import ConversionError, hwc_rows_to_chw, hwio_shape, hwio_to_oihw, write

VGG16_LAYERS = vgg16.CONV_NAMES + vgg16.FC_NAMES
# conv1_1 -> block1_conv1, fc6 -> fc1, ...
KERAS_NAMES = dict(zip(VGG16_LAYERS,
                       [name.replace("conv", "block").replace("_", "_conv")
                        for name in vgg16.CONV_NAMES] + ["fc1", "fc2", "predictions"]))
TORCHVISION_NAMES = dict(zip(VGG16_LAYERS, [f"features.{i}" for i in
                                            (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]
                             + ["classifier.0", "classifier.3", "classifier.6"]))
KERAS_PREPROCESSING = Preprocessing(vgg16.INPUT_SIZE, "BGR", (103.939, 116.779, 123.68))
TORCHVISION_PREPROCESSING = Preprocessing(vgg16.INPUT_SIZE, "RGB", (0.485, 0.456, 0.406),
                                          (0.229, 0.224, 0.225), 1 / 255)


def read_lasagne_vgg16(src):
    """Lasagne Recipes vgg16.pkl: 'param values' [W1, b1, W2, b2, ...], 'synset words',
    'mean value' (BGR). A Python 2 pickle, hence latin-1."""
    try:
        model = safe_pickle.load(src, encoding="latin-1")
    except pickle.UnpicklingError as error:
        raise ConversionError(f"not a Lasagne Recipes vgg16.pkl: {error}") from None
    if not isinstance(model, dict):
        raise ConversionError(f"'{src}': not a Lasagne Recipes model file (a "
                              f"{type(model).__name__}, not a dict)")
    missing = {"param values", "synset words", "mean value"} - set(model)
    if missing:
        raise ConversionError(f"'{src}': not a Lasagne Recipes model file, it lacks "
                              f"{sorted(missing)}")
    values = model["param values"]
    if not isinstance(values, (list, tuple)) or len(values) != 2 * len(VGG16_LAYERS):
        held = (f"{len(values)} arrays" if isinstance(values, (list, tuple)) else
                f"a {type(values).__name__}")
        raise ConversionError(f"'{src}': 'param values' holds {held}, VGG-16 has "
                              f"{2 * len(VGG16_LAYERS)} arrays (W and b of 16 layers)")
    state = {}
    for i, name in enumerate(VGG16_LAYERS):
        state[f"{name}/W"], state[f"{name}/b"] = values[2 * i], values[2 * i + 1]
    try:
        mean = tuple(float(m) for m in np.asarray(model["mean value"]).reshape(-1))
        preprocessing = Preprocessing(vgg16.INPUT_SIZE, "BGR", mean)
    except (TypeError, ValueError) as error:
        raise ConversionError(f"'{src}': 'mean value' is not three numbers ({error})") from None
    words = model["synset words"]
    if not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
        raise ConversionError(f"'{src}': 'synset words' is not a list of class names")
    return state, preprocessing, [w.strip() for w in words]


def read_keras_vgg16(src):
    """Keras HDF5 weights: a group per layer (under "model_weights" in a
    whole-model file) holding its kernel and its bias, told apart by their
    shapes. Read through ``nnscratch.io``, so links and storage outside the
    file are refused, and every layer's shapes are checked against VGG-16's
    before any array is read."""
    declared = nnscratch.io.inspect(src)
    keys = keras_layer_keys(src, declared)
    wanted = {key for pair in keys.values() for key in pair}
    arrays = nnscratch.io.load(src, skip=[key for key in declared if key not in wanted])
    state = {}
    for name, (kernel_key, bias_key) in keys.items():
        kernel = arrays[kernel_key]
        if name == "fc6":
            kernel = hwc_rows_to_chw(kernel, (7, 7, 512))
        elif kernel.ndim == 4:
            kernel = hwio_to_oihw(kernel)
        state[f"{name}/W"], state[f"{name}/b"] = kernel, arrays[bias_key]
    return state, KERAS_PREPROCESSING, imagenet_class_names()


def keras_layer_keys(src, declared):
    """Our layer name -> (kernel key, bias key) in a Keras file whose arrays
    are ``declared`` (``nnscratch.io.inspect``): each layer's group must hold
    exactly a kernel and a bias of the shapes VGG-16 gives that layer."""
    root = "model_weights/" if any(key.startswith("model_weights/") for key in declared) else ""
    ours = vgg16_shapes()
    keys = {}
    for name, keras_name in KERAS_NAMES.items():
        kernel_shape, bias_shape = ours[f"{name}/W"], ours[f"{name}/b"]
        if len(kernel_shape) == 4:
            kernel_shape = hwio_shape(kernel_shape)
        arrays = {key: shape for key, (shape, _) in declared.items()
                  if key.startswith(f"{root}{keras_name}/")}
        kernel = [key for key, shape in arrays.items() if shape == kernel_shape]
        bias = [key for key, shape in arrays.items() if shape == bias_shape]
        if len(arrays) != 2 or len(kernel) != 1 or len(bias) != 1:
            raise ConversionError(f"'{src}': layer '{root}{keras_name}' (our {name}) should "
                                  f"hold a kernel {kernel_shape} and a bias {bias_shape}; "
                                  f"it holds {arrays or 'nothing'}")
        keys[name] = kernel[0], bias[0]
    return keys


def vgg16_shapes():
    """Our VGG-16 state dict's shapes, key -> shape, from the net itself (the
    one place that says what the architecture is)."""
    return {key: p.shape for key, p in vgg16.VGG16().named_parameters()}


def read_torchvision_vgg16(src):
    """A torchvision state dict: 'features.0.weight' (F, C, KH, KW),
    'classifier.0.weight' (M, D)."""
    try:
        import torch
    except ImportError:
        raise ImportError("reading a torchvision .pth needs PyTorch (pip install torch); "
                          "or convert from the Lasagne or Keras file instead") from None
    try:
        tensors = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as error:   # noqa: BLE001  (any failure of untrusted bytes)
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise ConversionError(f"'{src}': not a torchvision state dict "
                              f"({type(error).__name__}: {first_line})") from None
    if not isinstance(tensors, dict):
        raise ConversionError(f"'{src}': not a torchvision state dict (a {type(tensors).__name__})")
    state = {}
    for name, torch_name in TORCHVISION_NAMES.items():
        for kind in ("weight", "bias"):
            if not isinstance(tensors.get(f"{torch_name}.{kind}"), torch.Tensor):
                raise ConversionError(f"'{src}': no tensor '{torch_name}.{kind}' (our {name})")
        W = tensors[f"{torch_name}.weight"].detach().to(torch.float32).numpy()
        state[f"{name}/W"] = W.T if name.startswith("fc") else W
        state[f"{name}/b"] = tensors[f"{torch_name}.bias"].detach().to(torch.float32).numpy()
    return state, TORCHVISION_PREPROCESSING, imagenet_class_names()


READERS = {"lasagne": read_lasagne_vgg16, "keras": read_keras_vgg16,
           "torchvision": read_torchvision_vgg16}


def check_state(src, state):
    """ConversionError naming the layer unless ``state`` holds every array of VGG-16, each
    numeric with our shape (the readers' layouts applied): what a malformed source file
    (a hand-made pickle, a state dict of another net) fails, before anything is written."""
    for key, shape in vgg16_shapes().items():
        if key not in state:
            raise ConversionError(f"'{src}': no array for our {key}")
        try:
            array = np.asarray(state[key])
        except Exception as error:   # noqa: BLE001  (any object of untrusted bytes)
            raise ConversionError(f"'{src}': our {key} is not an array "
                                  f"({type(error).__name__})") from None
        if array.dtype.kind not in "fiu" or array.shape != tuple(shape):
            raise ConversionError(f"'{src}': our {key} should be numbers of shape "
                                  f"{tuple(shape)}, got {array.dtype} of shape {array.shape}")


def convert_vgg16(source_format, src, out):
    """A VGG-16 file in ``source_format`` (lasagne, keras, torchvision) -> ``out``.

    Written aside, checked to load as our VGG-16, and only then renamed onto
    ``out``: a failed conversion leaves a previous ``out`` as it was."""
    if not os.path.isfile(src):
        raise FileNotFoundError(f"no such file: '{src}'")
    state, preprocessing, class_names = READERS[source_format](src)
    check_state(src, state)
    with written_aside(out) as aside:
        write(aside, "vgg16", f"{source_format}: {src}", state, preprocessing, class_names)
        build("vgg16", weights=aside)


@command
def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m caption.cnn.convert",
        description="Convert pretrained VGG-16 ImageNet weights (Lasagne Recipes vgg16.pkl, "
                    "Keras vgg16_weights_tf_dim_ordering_tf_kernels.h5 or torchvision "
                    "vgg16-397923af.pth) into this project's HDF5 format; see weights/README.md.")
    parser.add_argument("--from", dest="source_format", required=True, choices=sorted(READERS),
                        help="the format of SRC")
    parser.add_argument("src", type=user_path, help="the downloaded weight file")
    parser.add_argument("--out", type=user_path,
                        help=f"the file to write (default: {WEIGHTS_DIR / 'vgg16.h5'}, where "
                             f"--cnn vgg16 looks for it; $NNSCRATCH_CACHE moves it)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)
    if args.out is None:
        WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
        args.out = str(WEIGHTS_DIR / "vgg16.h5")
    check_output(args.out, "--out", [args.src], args.force)
    try:
        convert_vgg16(args.source_format, args.src, args.out)
    except (ImportError, pickle.UnpicklingError) as error:
        raise ConversionError(f"'{args.src}': {error}") from None
    print(f"wrote {args.out}: VGG-16 from the {args.source_format} file {args.src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
