"""The Stanford PTBTokenizer in Java, as the COCO caption evaluation runs it
(thesis §1.3): the tokenizer that ``tokenize`` imitates without Java, kept to
measure how far the imitation is from it, and to run published protocols
exactly (``caption.agreement --java-tokenizer``).

pycocoevalcap ships the tokenizer in ``tokenizer/stanford-corenlp-3.4.1.jar``
and runs it as::

    java -cp stanford-corenlp-3.4.1.jar edu.stanford.nlp.process.PTBTokenizer \
         -preserveLines -lowerCase

one caption a line in, its tokens separated by spaces a line out; the tokens
in ``tokenize.PUNCTUATION`` are then dropped. It needs ``java`` on the PATH
(else ``MetricUnavailable``); one run takes a couple of seconds, most of it
starting Java, whatever the number of captions.
"""
import subprocess

from .meteor import pycocoevalcap_file
from .tokenize import PUNCTUATION

TOKENIZER_CLASS = "edu.stanford.nlp.process.PTBTokenizer"


def java_tokenize(texts):
    """Captions -> their lists of lower-case tokens, punctuation dropped, in one Java run."""
    jar = pycocoevalcap_file("tokenizer", "stanford-corenlp-3.4.1.jar")
    lines = "".join(" ".join(text.splitlines()) + "\n" for text in texts)
    done = subprocess.run(["java", "-cp", jar, TOKENIZER_CLASS, "-preserveLines", "-lowerCase",
                           "-encoding", "UTF-8"],
                          input=lines.encode("utf-8"), capture_output=True, check=False)
    out = done.stdout.decode("utf-8").split("\n")[:-1]
    if done.returncode != 0 or len(out) != len(texts):
        raise RuntimeError(f"java_tokenize: the PTBTokenizer gave {len(out)} lines for "
                           f"{len(texts)} captions (exit {done.returncode}): "
                           f"{done.stderr.decode(errors='replace')[-500:]}")
    return [[word for word in line.split(" ") if word and word not in PUNCTUATION]
            for line in out]
