"""How far a caption generator tells images apart, and how far it repeats its
training sentences: the usual measures of diversity and novelty beside BLEU
and CIDEr-D (e.g. Dai et al. 2017; Shetty et al. 2017; van Miltenburg et al.
2018, "Measuring the diversity of automatic image descriptions").

For the C captions generated for the C images of a split (one each):

    distinct   = |{c_i}| / C                   the share of different captions
    words used = |∪_i words(c_i)|              how many different words they use
    novel      = |{i : c_i ∉ train}| / C       the share not copied whole from
                                               a training sentence

A model that gives 54 images the same caption scores high on a metric that
averages over images while telling them apart badly; these three say so.
"""


def diversity(captions, training_sentences):
    """captions: one token list per image; training_sentences: token lists.
    -> {"distinct captions", "words used", "novel captions"} (shares in [0, 1])."""
    if not captions:
        raise ValueError("diversity: no caption to measure")
    generated = [tuple(c) for c in captions]
    seen = {tuple(s) for s in training_sentences}
    return {"distinct captions": len(set(generated)) / len(generated),
            "words used": len({w for c in generated for w in c}),
            "novel captions": sum(c not in seen for c in generated) / len(generated)}
