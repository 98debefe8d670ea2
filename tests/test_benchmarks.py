"""The benchmark scripts keep running: ``python -m benchmarks --quick`` (tiny
shapes, one repetition) in a subprocess, and the tables it prints."""
import json
import math
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import SUBJECTS
from benchmarks.timing import Row, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_covers_every_subject(tmp_path):
    out = tmp_path / "cpu.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["subjects"]) == set(SUBJECTS)
    for subject, result in results["subjects"].items():
        assert result["rows"], subject
        for row in result["rows"]:
            assert row["ours"] > 0 and row["theirs"] > 0, row
            assert math.isclose(row["ratio"], row["ours"] / row["theirs"])
    assert results["machine"]["cores"] >= 1 and results["machine"]["numpy_blas"]
    assert done.stdout.count("| case | ours (") == len(SUBJECTS)


def test_table_marks_a_missed_target():
    rows = [Row("conv2d", "fast", 10.0, 20.0, target=1.3),
            Row("conv2d", "slow", 30.0, 20.0, target=1.3)]
    table = markdown_table("conv2d", rows).splitlines()
    assert table[4] == "| fast | 10.0 | PyTorch | 20.0 | 0.50 | ≤ 1.3 |"
    assert table[5] == "| slow | 30.0 | PyTorch | 20.0 | 1.50 | ≤ 1.3 (missed) |"
