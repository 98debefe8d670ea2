"""The Flickr8k text release -> Karpathy's split JSON: small releases written
here (good and bad), then the real release beside the checkout when present."""
import json
from pathlib import Path

import pytest

from caption.training.baselines import constant_caption_scores
from caption.data.flickr8k import SPLIT_FILES, TOKEN_FILE, convert, karpathy_tokens, main
from caption.data.karpathy import DatasetError, load_karpathy
from caption.stats import dataset_stats

RELEASE = Path(__file__).resolve().parents[1].parent / "shared" / "flickr8k"

CAPTIONS = {"a.jpg": ["A dog's ball .", "A brown dog runs ."],
            "b.jpg": ["Two kids play soccer in the park ."],
            "c.jpg": ["A T-shirt , hung up .", "a shirt"],
            "unlisted.jpg": ["Never used ."]}
LISTS = {"train": ["c.jpg", "a.jpg"], "val": [], "test": ["b.jpg"]}


def write_release(folder, captions=CAPTIONS, lists=LISTS, token_lines=None):
    """A release in ``folder``: the token file (given lines, or built from captions)
    and the three split lists."""
    folder.mkdir(exist_ok=True)
    if token_lines is None:
        token_lines = [f"{image}#{k}\t{raw}" for image, raws in captions.items()
                       for k, raw in enumerate(raws)]
    (folder / TOKEN_FILE).write_text("\n".join(token_lines) + "\n")
    for split, name in SPLIT_FILES.items():
        (folder / name).write_text("".join(f"{image}\n" for image in lists[split]))
    return folder


def test_tokens_cut_at_every_non_alphanumeric_character():
    assert karpathy_tokens("A dog's T-shirt , 2nd try .") == ["a", "dog", "s", "t", "shirt",
                                                              "2nd", "try"]


def test_converts_a_small_release(tmp_path):
    images = convert(write_release(tmp_path / "release"))["images"]
    assert [(i["filename"], i["split"], i["imgid"]) for i in images] == [
        ("c.jpg", "train", 0), ("a.jpg", "train", 1), ("b.jpg", "test", 2)]
    assert [s["sentid"] for i in images for s in i["sentences"]] == [0, 1, 2, 3, 4]
    assert images[1]["sentences"][0] == {"tokens": ["a", "dog", "s", "ball"],
                                         "raw": "A dog's ball .", "imgid": 1, "sentid": 2}
    assert images[1]["sentids"] == [2, 3]


def test_sentences_follow_their_caption_number(tmp_path):
    lines = ["a.jpg#1\tsecond", "b.jpg#0\tother", "a.jpg#0\tfirst"]
    release = write_release(tmp_path / "r", token_lines=lines,
                            lists={"train": ["a.jpg", "b.jpg"], "val": [], "test": []})
    assert [s["raw"] for s in convert(release)["images"][0]["sentences"]] == ["first", "second"]


def test_main_writes_what_load_karpathy_reads(tmp_path, capsys):
    release = write_release(tmp_path / "release")
    out = tmp_path / "dataset.json"
    assert main([str(release), "--out", str(out)]) == 0
    assert "3 images (train 2, val 0, test 1), 5 sentences" in capsys.readouterr().out
    dataset = load_karpathy(out)
    assert [len(dataset.split(s)) for s in ("train", "test")] == [2, 1]
    assert dataset.split("test")[0].tokens == [["two", "kids", "play", "soccer", "in", "the",
                                                "park"]]


def test_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    release = write_release(tmp_path / "release")
    out = tmp_path / "dataset.json"
    out.write_text("keep me")
    assert main([str(release), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: exists already; pass --force to replace it")
    assert out.read_text() == "keep me"
    assert main([str(release), "--out", str(out), "--force"]) == 0
    assert len(json.loads(out.read_text())["images"]) == 3


def test_never_overwrites_an_input_file(tmp_path, capsys):
    release = write_release(tmp_path / "release")
    target = release / SPLIT_FILES["test"]
    before = target.read_text()
    assert main([str(release), "--out", str(target), "--force"]) == 1
    assert "one of the command's own inputs" in capsys.readouterr().err
    assert target.read_text() == before
    assert sorted(p.name for p in release.iterdir()) == sorted([TOKEN_FILE, *SPLIT_FILES.values()])


BAD_TOKEN_LINES = [
    (["a.jpg#0\tok", "a.jpg#1 no tab here"], "line 2: expected '<image>#<k><TAB><caption>'"),
    (["a.jpg\tno number"], "line 1: caption id 'a.jpg' is not '<image file>#<caption number>'"),
    (["a.jpg#x\tbad number"], "line 1: caption id 'a.jpg#x'"),
    (["a.jpg#0\t . , !"], "line 1: caption a.jpg#0 has no word"),
    (["a.jpg#0\tone", "", "a.jpg#0\tagain"], "line 3: caption a.jpg#0 is given again "
                                             "(first at line 1)"),
]


@pytest.mark.parametrize("lines, message", BAD_TOKEN_LINES)
def test_malformed_token_file_named_with_its_line(tmp_path, lines, message):
    release = write_release(tmp_path / "r", token_lines=lines,
                            lists={"train": ["a.jpg"], "val": [], "test": []})
    with pytest.raises(DatasetError, match="^" + str(release / TOKEN_FILE)) as caught:
        convert(release)
    assert message in str(caught.value)


@pytest.mark.parametrize("lists, message", [
    ({"train": ["a.jpg", "z.jpg"], "val": [], "test": []},
     "Flickr_8k.trainImages.txt: line 2: z.jpg has no caption in"),
    ({"train": ["a.jpg"], "val": ["b.jpg"], "test": ["a.jpg"]},
     "Flickr_8k.testImages.txt: line 1: a.jpg is listed again "
     "(first in Flickr_8k.trainImages.txt, line 1)"),
    ({"train": ["a.jpg b.jpg"], "val": [], "test": []},
     "Flickr_8k.trainImages.txt: line 1: expected one image file name"),
])
def test_bad_split_lists_named_with_their_line(tmp_path, lists, message):
    with pytest.raises(DatasetError) as caught:
        convert(write_release(tmp_path / "r", lists=lists))
    assert message in str(caught.value)


def test_missing_file_is_one_line_error(tmp_path, capsys):
    release = write_release(tmp_path / "r")
    (release / SPLIT_FILES["val"]).unlink()
    assert main([str(release), "--out", str(tmp_path / "out.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {release / SPLIT_FILES['val']}: cannot read it")
    assert err.count("\n") == 1
    assert not (tmp_path / "out.json").exists()


def test_help_names_the_files(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Flickr8k.token.txt" in text and "--force" in text and "TEXT_DIR" in text


@pytest.fixture(scope="module")
def real_dataset(tmp_path_factory):
    if not (RELEASE / TOKEN_FILE).is_file():
        pytest.skip(f"the Flickr8k text release is not at {RELEASE}")
    out = tmp_path_factory.mktemp("flickr8k") / "dataset_flickr8k.json"
    assert main([str(RELEASE), "--out", str(out)]) == 0
    return load_karpathy(out)


def test_the_real_release(real_dataset):
    assert [len(real_dataset.split(s)) for s in ("train", "val", "test")] == [6000, 1000, 1000]
    assert sum(len(image.tokens) for image in real_dataset.images) == 40000
    assert [image.imgid for image in real_dataset.images] == list(range(8000))
    assert [i for image in real_dataset.images for i in image.sentids] == list(range(40000))
    first = real_dataset.images[0]
    assert first.filename == "2513260012_03d33305cf.jpg"
    assert first.raw[0] == "A black dog is running after a white dog in the snow ."
    assert first.tokens[0] == "a black dog is running after a white dog in the snow".split()


def test_statistics_of_the_real_release(real_dataset):
    """The figures of the thesis's §1.2 TODO, as the README gives them."""
    stats = dataset_stats(real_dataset)
    lengths = {split: (round(s["mean_length"], 2), s["median_length"])
               for split, s in stats["splits"].items()}
    assert lengths == {"train": (10.82, 10.0), "val": (10.93, 10.0), "test": (10.87, 10.0)}
    assert round(stats["all"]["mean_length"], 2) == 10.84
    assert stats["vocabulary_sizes"] == {"1": 7370, "2": 4443, "3": 3474, "5": 2535, "10": 1663}
    coverage = stats["test_coverage"]
    assert (coverage["test_tokens"], round(100 * coverage["covered"], 2)) == (54334, 96.96)


def test_best_constant_caption_on_the_real_captions(real_dataset):
    scores = constant_caption_scores(real_dataset.split("train"), real_dataset.split("test"))
    assert scores["caption"] == "a dog plays in the snow"
    assert {k: round(v, 4) for k, v in scores.items() if k != "caption"} == {
        "BLEU-1": 0.3979, "BLEU-2": 0.1949, "BLEU-3": 0.0712, "BLEU-4": 0.0263,
        "ROUGE-L": 0.2981, "CIDEr-D": 0.0619}
