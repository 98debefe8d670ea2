"""What the notebooks of this folder share: the checkout they study, data, and figures.

A notebook runs in Jupyter (with this folder as its working directory) or as
a plain script, ``python notebooks/01_feedforward_backprop.py``, which is how
the test suite executes them (tests/test_notebooks.py). Either way:

- ``ROOT`` is the checkout (the folder holding setup.cfg), put first on
  ``sys.path`` so that a notebook studies the code beside it;
- ``shapes_subset`` generates (once, into the nnscratch cache) the first
  images of the built-in shapes set, small enough to train on in a minute;
- ``show(figure)`` displays a matplotlib figure in Jupyter and, when the
  environment variable NOTEBOOK_FIGURES names a folder, saves it there too.
"""
import os
import pathlib
import sys
import tempfile


def _checkout():
    for folder in pathlib.Path(__file__).resolve().parents:
        if (folder / "setup.cfg").is_file() and (folder / "caption").is_dir():
            return folder
    raise RuntimeError(f"notebooks: {__file__} is not inside a checkout of the project")


ROOT = _checkout()
sys.path.insert(0, str(ROOT))
FLICKR8K = ROOT.parent / "shared" / "flickr8k"   # the Flickr8k text release, where a machine has it
IN_JUPYTER = "ipykernel" in sys.modules
if not IN_JUPYTER:
    os.environ.setdefault("MPLBACKEND", "Agg")   # a script draws into files, never a window

import matplotlib.pyplot as plt   # noqa: E402  (after the backend is chosen)

_shown = 0


def show(figure, name=None):
    """Display ``figure`` (in Jupyter), save it under $NOTEBOOK_FIGURES if set, close it."""
    global _shown
    _shown += 1
    folder = os.environ.get("NOTEBOOK_FIGURES")
    if folder:
        stem = pathlib.Path(sys.argv[0]).stem if not IN_JUPYTER else "notebook"
        figure.savefig(pathlib.Path(folder) / f"{stem}-{_shown:02d}-{name or 'figure'}.png",
                       dpi=80, bbox_inches="tight")
    if IN_JUPYTER:
        from IPython.display import display
        display(figure)
    plt.close(figure)


def shapes_subset(n_train, n_val, n_test, seed=0):
    """The JSON of the first images of the shapes set (generated once into the cache)."""
    from caption.data.shapes import build_shapes, default_root
    full = default_root(seed)
    return build_shapes(full.with_name(f"{full.name}-{n_train}-{n_val}-{n_test}"), seed,
                        n_train, n_val, n_test)


def scratch(prefix):
    """A new temporary folder for what a notebook writes (run folders, feature files)."""
    return pathlib.Path(tempfile.mkdtemp(prefix=f"notebook-{prefix}-"))
