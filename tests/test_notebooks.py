"""The notebooks of notebooks/, one per chapter of the thesis that has code,
executed as the scripts they are (jupytext's percent format: each file runs
with ``python``, and opens as a notebook in Jupyter with jupytext installed).

Every notebook runs from its own folder, in a fresh process, with the
checkout first on the path, matplotlib drawing into files and an empty data
cache (NNSCRATCH_CACHE), as from a clean clone: a failing cell, or a failing
assertion in one, fails the test. Together they take about 3 to 5 minutes on
2 cores (the training of notebooks 04 and 05 is most of it).
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("matplotlib", reason="the notebooks draw with matplotlib (the dev extra)")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
CHAPTERS = {   # notebook -> the sections and equations of the thesis it must cite
    "01_feedforward_backprop.py": ("§3.2", "eq. 3.1", "eq. 3.2", "§3.2.3"),
    "02_convolutional_networks.py": ("§3.4", "Fig. 3.5", "§5.1"),
    "03_recurrent_networks.py": ("§3.5",),
    "04_image_sentence_ranking.py": ("§3.6", "3.3", "3.4", "3.5", "3.6", "§5.2"),
    "05_caption_generation.py": ("§3.7", "§5.3"),
    "06_data_metrics_experiments.py": ("§1.2", "§1.3", "§3.3", "§5"),
}
TIMEOUT = 600   # seconds for one notebook; all of them should take well under 10 minutes


def cells(text):
    """The cells of a percent-format notebook: [(kind, source)], kind "code" or "markdown"."""
    found = []
    for block in re.split(r"^# %%", text, flags=re.M)[1:]:
        header, _, body = block.partition("\n")
        found.append(("markdown" if "[markdown]" in header else "code", body))
    return found


def test_every_chapter_with_code_has_its_notebook():
    assert [n.name for n in NOTEBOOKS] == sorted(CHAPTERS)
    for notebook in NOTEBOOKS:
        text = notebook.read_text(encoding="utf-8")
        assert text.startswith("# ---\n# jupyter:\n#   jupytext:"), notebook.name
        kinds = [kind for kind, _ in cells(text)]
        assert kinds[0] == "markdown" and "code" in kinds, notebook.name
        for citation in CHAPTERS[notebook.name]:
            assert citation in text, f"{notebook.name} does not cite {citation}"
        quotes = re.findall(r"«([^»]+)»", text)
        assert quotes and any(len(q) > 60 for q in quotes), f"{notebook.name}: no passage quoted"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("nnscratch-cache")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_the_notebook_runs(notebook, cache, tmp_path):
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg", "NNSCRATCH_CACHE": str(cache),
           "NOTEBOOK_FIGURES": str(tmp_path)}
    done = subprocess.run([sys.executable, notebook.name], cwd=notebook.parent, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, (f"{notebook.name} failed:\n{done.stdout[-3000:]}\n"
                                  f"{done.stderr[-5000:]}")
    assert list(tmp_path.glob("*.png")), f"{notebook.name} drew no figure"
