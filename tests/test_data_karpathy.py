"""caption.data.karpathy and caption.data.features on small fixture datasets
written in the three layouts of Karpathy's split JSON (Flickr8k, Flickr30k, COCO)."""
import json

import numpy as np
import pytest

from caption.data.features import Features, load_features, write_features
from caption.data.karpathy import DatasetError, load_karpathy

SPLITS_8K = ["train", "train", "train", "val", "test"]
SPLITS_COCO = ["train", "restval", "restval", "val", "test"]


def image_record(imgid, split, filepath=None):
    record = {"filename": f"{1000 + imgid}_img.jpg", "imgid": imgid, "split": split,
              "sentids": [imgid * 2, imgid * 2 + 1],
              "sentences": [{"tokens": ["a", "dog", "runs"], "raw": "A dog runs.",
                             "imgid": imgid, "sentid": imgid * 2},
                            {"tokens": ["a", "brown", "dog"], "raw": "A brown dog",
                             "imgid": imgid, "sentid": imgid * 2 + 1}]}
    if filepath is not None:
        record["filepath"] = filepath
    return record


def write_dataset(tmp_path, layout, records=None, create_images=True):
    """A dataset JSON and its image folder; returns (json path, image root)."""
    if records is None:
        if layout == "coco":
            records = [image_record(i, s, "train2014" if s != "val" else "val2014")
                       for i, s in enumerate(SPLITS_COCO)]
        else:
            records = [image_record(i, s) for i, s in enumerate(SPLITS_8K)]
    root = tmp_path / "images"
    for record in records:
        folder = root / record.get("filepath", "")
        folder.mkdir(parents=True, exist_ok=True)
        if create_images and "filename" in record:
            (folder / record["filename"]).write_bytes(b"not really a jpeg")
    path = tmp_path / f"dataset_{layout}.json"
    path.write_text(json.dumps({"dataset": layout, "images": records}))
    return path, root


@pytest.mark.parametrize("layout", ["flickr8k", "flickr30k"])
def test_flickr_layouts(tmp_path, layout):
    path, root = write_dataset(tmp_path, layout)
    data = load_karpathy(path, root)
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [3, 1, 1]
    first = data.images[0]
    assert first.path == root / "1000_img.jpg" and first.path.is_file()
    assert first.tokens == [["a", "dog", "runs"], ["a", "brown", "dog"]]
    assert first.raw == ["A dog runs.", "A brown dog"] and first.sentids == [0, 1]
    assert data.split("test")[0].imgid == 4


def test_coco_filepath_and_restval(tmp_path):
    path, root = write_dataset(tmp_path, "coco")
    kept = load_karpathy(path, root)
    assert [len(kept.split(s)) for s in ("train", "restval", "val", "test")] == [1, 2, 1, 1]
    assert kept.images[3].path == root / "val2014" / "1003_img.jpg"
    assert kept.images[3].relpath == "val2014/1003_img.jpg"
    folded = load_karpathy(path, root, restval_to_train=True)
    assert [im.imgid for im in folded.split("train")] == [0, 1, 2]
    assert "restval" not in folded.splits
    with pytest.raises(DatasetError, match="restval"):
        folded.split("restval")


def test_without_image_root_paths_are_not_checked(tmp_path):
    path, _ = write_dataset(tmp_path, "flickr8k", create_images=False)
    data = load_karpathy(path)
    assert data.image_root is None and all(im.path is None for im in data.images)


def test_malformed_json(tmp_path):
    path = tmp_path / "dataset_flickr8k.json"
    path.write_text('{"images": [ {"filename": "a.jpg", }')
    with pytest.raises(DatasetError, match=r"dataset_flickr8k.json: malformed JSON at line 1"):
        load_karpathy(path)


def test_not_a_karpathy_file(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('[1, 2, 3]')
    with pytest.raises(DatasetError, match="other.json.*\"images\""):
        load_karpathy(path)


IMAGE_2 = r"images\[2\] \('1002_img.jpg', imgid 2\)"


@pytest.mark.parametrize("remove, message", [
    (lambda r: r.pop("filename"), r"images\[2\]: missing field 'filename'"),
    (lambda r: r.pop("imgid"), r"images\[2\] \('1002_img.jpg'\): missing field 'imgid'"),
    (lambda r: r.pop("split"), IMAGE_2 + r": missing field 'split'"),
    (lambda r: r.pop("sentences"), IMAGE_2 + r": missing field 'sentences'"),
    (lambda r: r["sentences"][1].pop("tokens"), IMAGE_2 + r", sentences\[1\]: missing field 'tokens'"),
    (lambda r: r["sentences"][0].pop("raw"), IMAGE_2 + r", sentences\[0\]: missing field 'raw'"),
    (lambda r: r["sentences"][0].pop("sentid"), IMAGE_2 + r", sentences\[0\]: missing field 'sentid'"),
    (lambda r: r.update(imgid="2"), r"images\[2\] \('1002_img.jpg'\): field 'imgid' should be int"),
    (lambda r: r.update(split="dev"), IMAGE_2 + r": field 'split' is 'dev'"),
    (lambda r: r.update(sentences=[]), IMAGE_2 + r": field 'sentences' is empty"),
])
def test_missing_or_wrong_field(tmp_path, remove, message):
    records = [image_record(i, s) for i, s in enumerate(SPLITS_8K)]
    remove(records[2])
    path, root = write_dataset(tmp_path, "flickr8k", records)
    with pytest.raises(DatasetError, match=r"dataset_flickr8k.json: " + message):
        load_karpathy(path, root)


@pytest.mark.parametrize("raw, tokens, field", [
    ("", ["a"], "raw"), ("   \t", ["a"], "raw"),
    ("A dog.", [], "tokens"), ("A dog.", ["a", "  "], "tokens")])
def test_empty_sentence(tmp_path, raw, tokens, field):
    records = [image_record(i, s) for i, s in enumerate(SPLITS_8K)]
    records[1]["sentences"][1].update(raw=raw, tokens=tokens)
    path, root = write_dataset(tmp_path, "flickr8k", records)
    with pytest.raises(DatasetError, match=rf"images\[1\] \('1001_img.jpg', imgid 1\), "
                                           rf"sentences\[1\]: field '{field}'"):
        load_karpathy(path, root)


def test_missing_images_are_listed_together(tmp_path):
    records = [image_record(i, "train") for i in range(9)]
    path, root = write_dataset(tmp_path, "flickr30k", records)
    for imgid in (1, 3, 4, 5, 6, 8):
        (root / f"{1000 + imgid}_img.jpg").unlink()
    with pytest.raises(DatasetError) as err:
        load_karpathy(path, root)
    text = str(err.value)
    assert "dataset_flickr30k.json: 6 of 9 images are missing" in text
    assert "1001_img.jpg, 1003_img.jpg, 1004_img.jpg, 1005_img.jpg, 1006_img.jpg and 1 more" in text


@pytest.mark.parametrize("field, value", [
    ("filename", "../secret.jpg"), ("filename", "/etc/passwd"),
    ("filename", "sub/../../x.jpg"), ("filepath", "../elsewhere")])
def test_paths_escaping_the_root(tmp_path, field, value):
    records = [image_record(i, s, "train2014") for i, s in enumerate(SPLITS_COCO)]
    path, root = write_dataset(tmp_path, "coco", records)
    records[3][field] = value
    path.write_text(json.dumps({"images": records}))
    with pytest.raises(DatasetError, match=rf"images\[3\].*field '{field}' is .*escapes the image root"):
        load_karpathy(path, root)


def test_repeated_imgid(tmp_path):
    records = [image_record(i, s) for i, s in enumerate(SPLITS_8K)]
    records[4]["imgid"] = 1
    path, root = write_dataset(tmp_path, "flickr8k", records)
    with pytest.raises(DatasetError, match=r"images\[4\].*imgid 1 repeats that of images\[1\]"):
        load_karpathy(path, root)


# features ------------------------------------------------------------------

def test_h5_features_aligned_by_imgid(tmp_path):
    path, root = write_dataset(tmp_path, "flickr8k")
    data = load_karpathy(path, root)
    rows = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    order = [3, 0, 4, 1, 2]                  # rows written in another order than the JSON
    write_features(tmp_path / "feats.h5", rows[order], order)
    feats = load_features(tmp_path / "feats.h5", data)
    assert isinstance(feats, Features) and feats.dim == 3
    np.testing.assert_array_equal(feats.for_images(data.images), rows)
    np.testing.assert_array_equal(feats.for_images(data.split("test")), rows[[4]])


def test_h5_features_mismatch(tmp_path):
    path, root = write_dataset(tmp_path, "flickr8k")
    data = load_karpathy(path, root)
    write_features(tmp_path / "short.h5", np.zeros((4, 3)), [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"short.h5: 4 feature rows but .*lists 5 images"):
        load_features(tmp_path / "short.h5", data)
    write_features(tmp_path / "wrong.h5", np.zeros((5, 3)), [0, 1, 7, 3, 4])
    with pytest.raises(ValueError, match=r"wrong.h5: no feature row for imgid 2"):
        load_features(tmp_path / "wrong.h5", data)
    write_features(tmp_path / "twice.h5", np.zeros((5, 3)), [0, 1, 1, 3, 4])
    with pytest.raises(ValueError, match=r"twice.h5: imgid 1 has two feature rows"):
        load_features(tmp_path / "twice.h5", data)


def test_neuraltalk_mat_features(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    path, root = write_dataset(tmp_path, "coco")
    data = load_karpathy(path, root, restval_to_train=True)
    feats = np.random.default_rng(0).standard_normal((4096, 5)).astype(np.float32)
    scipy_io.savemat(tmp_path / "vgg_feats.mat", {"feats": feats})
    loaded = load_features(tmp_path / "vgg_feats.mat", data)
    np.testing.assert_array_equal(loaded.for_images(data.split("val")), feats[:, [3]].T)
    scipy_io.savemat(tmp_path / "bad.mat", {"feats": feats[:, :4]})
    with pytest.raises(ValueError, match=r"bad.mat: 'feats' has 4 columns but .* lists 5 images"):
        load_features(tmp_path / "bad.mat", data)
