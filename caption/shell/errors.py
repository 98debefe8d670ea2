"""The error boundary of every command (STYLE.md 14).

``@command`` wraps a command's ``main``: the project's own errors, each of
which already names the file and the field or key (a dataset, a feature
file, a checkpoint, a config, an image, a weight file, an output path, a
missing GPU), and the operating system's (a missing file, a full disk, a
read-only folder) become one line on stderr and exit status 1; Ctrl-C is status 130. Anything
else is a bug and keeps its traceback.
"""
import functools
import sys

from nnscratch.backend import GPUUnavailable
from nnscratch.io import FileFormatError

from ..cnn.preprocess import ImageError
from ..cnn.weightfile import ConversionError
from ..data.features import FeaturesError
from ..data.files import OutputError
from ..data.karpathy import DatasetError
from ..metrics.meteor import MetricUnavailable
from ..training.config import ConfigError
from ..training.distributed import DistributedError
from ..training.loop import NonFiniteLoss
from ..training.run_folder import RunError

USER_ERRORS = (ConfigError, DatasetError, FeaturesError, ImageError, RunError, FileFormatError,
               ConversionError, GPUUnavailable, MetricUnavailable, NonFiniteLoss, OutputError,
               DistributedError, OSError)


def command(main):
    """``main(argv)`` -> exit status, with the project's errors as one line on stderr."""
    @functools.wraps(main)
    def guarded(argv=None):
        try:
            return main(argv)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except USER_ERRORS as error:
            print(f"error: {message(error)}", file=sys.stderr)
            return 1
    return guarded


def message(error):
    """One line saying what went wrong: the error's own message, or for an OSError its
    reason and file."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return " ".join(str(error).split()) or type(error).__name__
