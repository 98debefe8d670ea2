"""METEOR 1.5 (Denkowski & Lavie 2014) through the official Java scorer that
pycocoevalcap ships (thesis §5.3). METEOR aligns hypothesis and references
through exact words, stems, WordNet synonyms and a paraphrase table, and
combines the aligned precision and recall with a penalty for fragmented
alignments; those resources live in the jar, so it is run, not rewritten.

It needs ``java`` on the PATH, ``pycocoevalcap`` installed, and beside its
``meteor-1.5.jar`` the paraphrase table ``data/paraphrase-en.gz`` (about 60 MB;
the pip package includes it, and the jar stops without it). Starting the jar
takes about ten seconds, spent loading that table. When something is missing,
``meteor`` raises ``MetricUnavailable`` whose message says what.

The jar is driven as the COCO code drives it: ``-stdio -l en -norm``; one
``SCORE ||| ref_1 ||| ... ||| ref_m ||| hypothesis`` line per image returns
that image's statistics, and one ``EVAL ||| stats_1 ||| ... ||| stats_G`` line
returns the G per-image scores and then the corpus score (METEOR aggregates
the statistics, so the corpus score is not the mean of the per-image ones).
"""
import importlib.util
import os
import shutil
import subprocess
import tempfile

import numpy as np


class MetricUnavailable(RuntimeError):
    """A metric could not be computed here; the message says why."""


def pycocoevalcap_file(*parts):
    """Path of a file pycocoevalcap ships (``"meteor", "meteor-1.5.jar"``) once java is
    found on the PATH too; else MetricUnavailable saying what is missing."""
    if shutil.which("java") is None:
        raise MetricUnavailable("not computed: java was not found on the PATH")
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailable("not computed: pycocoevalcap is not installed "
                                "(it ships the METEOR 1.5 jar and the Stanford tokenizer)")
    folder = list(spec.submodule_search_locations)[0]
    if not os.path.isfile(os.path.join(folder, *parts)):
        raise MetricUnavailable(f"not computed: {os.path.join(*parts)} is missing from {folder}")
    return os.path.join(folder, *parts)


def meteor_jar():
    """Path of pycocoevalcap's meteor-1.5.jar (its paraphrase table checked), or
    MetricUnavailable."""
    pycocoevalcap_file("meteor", "data", "paraphrase-en.gz")
    return pycocoevalcap_file("meteor", "meteor-1.5.jar")


def _line(words):
    """A token list as one field of the jar's ||| separated protocol, on one line: a word
    holding a line break or other whitespace (a hand-made dataset's token) is cut there,
    as the jar's own tokenizer would, instead of ending the protocol's line early."""
    return " ".join(part for w in words if "|||" not in w for part in w.split())


class _MeteorProcess:
    """The running jar, talked to one line at a time."""

    def __init__(self, jar):
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            ["java", "-Xmx2G", "-jar", jar, "-", "-", "-stdio", "-l", "en", "-norm"],
            cwd=os.path.dirname(jar), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.log)

    def ask(self, line, n_answers=1):
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()
        answers = [self.process.stdout.readline().decode().strip() for _ in range(n_answers)]
        if not all(answers):
            self.log.seek(0)
            raise MetricUnavailable("not computed: the METEOR jar stopped answering; its "
                                    "error output ends with: "
                                    + self.log.read().decode(errors="replace")[-300:])
        return answers

    def close(self):
        self.process.stdin.close()
        self.process.wait()
        self.log.close()


def meteor(references, hypotheses):
    """Corpus METEOR and the per-image scores, array (G,), from the jar.

    references: G lists of reference token lists; hypotheses: G token lists.
    Raises MetricUnavailable when java, pycocoevalcap or its data are missing.
    """
    jar = meteor_jar()
    scorer = _MeteorProcess(jar)
    try:
        stats = [scorer.ask(" ||| ".join(["SCORE"] + [_line(r) for r in refs] + [_line(h)]))[0]
                 for h, refs in zip(hypotheses, references)]
        answers = scorer.ask(" ||| ".join(["EVAL"] + stats), n_answers=len(stats) + 1)
    finally:
        scorer.close()
    return float(answers[-1]), np.array([float(a) for a in answers[:-1]])
