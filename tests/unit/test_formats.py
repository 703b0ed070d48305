"""On-disk formats: FER2013 CSV, image folders, annotation files, and their decode-once cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats import (
    FER2013_CLASSES,
    AnnotationFile,
    Fer2013Csv,
    ImageFolders,
)
from emotion_lab.data.formats import decode as decode_mod
from emotion_lab.data.formats import fer2013_csv as fer_mod
from emotion_lab.data.formats.cache import CACHE_DIRNAME

RNG = np.random.default_rng(1234)


# -- FER2013 CSV -------------------------------------------------------------------------------


def pixels(arr: np.ndarray) -> str:
    return " ".join(str(int(v)) for v in arr.ravel())


def write_csv(path: Path, rows: list[str], header: str = "emotion,pixels,Usage") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def good_rows(n: int, usage: str = "Training") -> tuple[list[str], list[np.ndarray], list[int]]:
    faces = [RNG.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(n)]
    labels = [int(v) for v in RNG.integers(0, 7, n)]
    return [f"{y},{pixels(f)},{usage}" for f, y in zip(faces, labels, strict=True)], faces, labels


def bump_mtime(path: Path) -> None:
    """Make a rewrite visible even on file systems with coarse timestamps."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_csv_round_trip_values_shapes_and_splits(tmp_path: Path) -> None:
    train, train_faces, train_y = good_rows(3, "Training")
    val, val_faces, val_y = good_rows(2, "PublicTest")
    test, test_faces, test_y = good_rows(1, "PrivateTest")
    path = write_csv(
        tmp_path / "fer2013.csv", [train[0], val[0], train[1], test[0], val[1], train[2]]
    )

    source = Fer2013Csv(path)
    assert source.classes == FER2013_CLASSES
    assert source.available_splits() == ("train", "val", "test")
    for split, faces, ys in (
        ("train", train_faces, train_y),
        ("val", val_faces, val_y),
        ("test", test_faces, test_y),
    ):
        data = source.load(split)
        assert data.images.shape == (len(faces), 48, 48, 1)
        assert data.images.dtype == np.uint8 and data.labels.dtype == np.int64
        np.testing.assert_array_equal(data.images[..., 0], np.stack(faces))
        assert data.labels.tolist() == ys
        assert data.skipped == 0


def test_csv_without_usage_column_is_all_train(tmp_path: Path) -> None:
    rows, faces, ys = good_rows(3)
    path = write_csv(tmp_path / "fer.csv", [r.rsplit(",", 1)[0] for r in rows], "emotion,pixels")
    source = Fer2013Csv(path)
    assert source.available_splits() == ("train",)
    data = source.load("train")
    np.testing.assert_array_equal(data.images[..., 0], np.stack(faces))
    assert data.labels.tolist() == ys
    with pytest.raises(DataError, match=r"no rows for split 'val'"):
        source.load("val")


FACE = pixels(np.full(2304, 7))
BAD_ROWS = {
    "short": ("3," + " ".join(["1"] * 2303) + ",Training", "expected 2304 pixels"),
    "long": ("3," + " ".join(["1"] * 2305) + ",Training", "expected 2304 pixels"),
    "non-number": ("3," + " ".join(["1"] * 100 + ["x1"] + ["1"] * 2203) + ",Training", "pixel 101"),
    "float": ("3," + " ".join(["1.5"] * 2304) + ",Training", "not an integer"),
    "too big": ("3," + " ".join(["1"] * 2303 + ["256"]) + ",Training", "outside 0-255"),
    "negative": ("3," + " ".join(["-1"] + ["1"] * 2303) + ",Training", "outside 0-255"),
    "label text": (f"happy,{FACE},Training", "not an integer"),
    "label range": (f"7,{FACE},Training", "outside 0..6"),
    "usage": (f"3,{FACE},Validation", "unknown Usage 'Validation'"),
    "columns": (f"3,{FACE}", "expected 3 columns, got 2"),
}


@pytest.mark.parametrize("kind", sorted(BAD_ROWS))
def test_csv_bad_row_names_file_and_line(tmp_path: Path, kind: str) -> None:
    row, what = BAD_ROWS[kind]
    good, _, _ = good_rows(2)
    # header is line 1, the good rows lines 2-3, the bad one line 4
    path = write_csv(tmp_path / "broken.csv", [*good, row, good[0]])
    with pytest.raises(DataError, match=r"broken\.csv:4: ") as err:
        Fer2013Csv(path).load("train")
    assert what in str(err.value)
    assert "\n" not in str(err.value)
    # a failure is never cached: the next run fails the same way
    with pytest.raises(DataError, match=r"broken\.csv:4: "):
        Fer2013Csv(path).load("train")


def test_csv_missing_header_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "nohead.csv", [f"3,{FACE},Training"], "emotion,pixel_values,Usage")
    with pytest.raises(DataError, match=r"nohead\.csv:1: header lacks column\(s\) pixels"):
        Fer2013Csv(path).load("train")


def test_csv_skip_mode_keeps_good_rows_and_warns_once(tmp_path: Path, caplog) -> None:
    good, faces, ys = good_rows(3)
    rows = [good[0], BAD_ROWS["short"][0], good[1], BAD_ROWS["label range"][0], good[2]]
    path = write_csv(tmp_path / "mixed.csv", rows)
    with caplog.at_level(logging.WARNING):
        data = Fer2013Csv(path, on_bad_sample="skip").load("train")
    np.testing.assert_array_equal(data.images[..., 0], np.stack(faces))
    assert data.labels.tolist() == ys
    assert data.skipped == 2
    assert data.skip_reasons[0].startswith(f"{path}:3: expected 2304 pixels")
    assert data.skip_reasons[1].startswith(f"{path}:5: label 7 outside 0..6")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"skipped 2 bad samples in {path} (train) (first: {data.skip_reasons[0]})"]
    # the cached split remembers what was skipped
    again = Fer2013Csv(path, on_bad_sample="skip").load("train")
    assert again.skipped == 2 and again.skip_reasons == data.skip_reasons


def test_csv_missing_file_says_what_to_get(tmp_path: Path) -> None:
    hint = "get fer2013.csv from Kaggle and put it at data/fer2013/fer2013.csv"
    with pytest.raises(DatasetNotFoundError, match="fer2013.csv from Kaggle") as err:
        Fer2013Csv(tmp_path / "fer2013.csv", hint=hint)
    assert str(tmp_path / "fer2013.csv") in str(err.value)


def test_csv_cache_hit_does_not_parse_again(tmp_path: Path, monkeypatch) -> None:
    rows, faces, _ = good_rows(4)
    path = write_csv(tmp_path / "fer.csv", rows)
    first = Fer2013Csv(path).load("train")
    assert any((tmp_path / "fer.csv.cache").glob("train-*.npy"))

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again although the cache is valid")

    monkeypatch.setattr(fer_mod, "parse_fer2013_csv", no_parse)
    second = Fer2013Csv(path)
    assert second.available_splits() == ("train",)
    np.testing.assert_array_equal(second.load("train").images, first.images)


def test_csv_cache_is_rebuilt_when_source_changes_or_cache_is_corrupt(tmp_path: Path) -> None:
    rows, _, _ = good_rows(2)
    path = write_csv(tmp_path / "fer.csv", rows)
    Fer2013Csv(path).load("train")
    new_rows, new_faces, new_ys = good_rows(3)
    write_csv(path, new_rows)
    bump_mtime(path)
    data = Fer2013Csv(path).load("train")
    np.testing.assert_array_equal(data.images[..., 0], np.stack(new_faces))
    assert data.labels.tolist() == new_ys

    (cache_file,) = (tmp_path / "fer.csv.cache").glob("train-*.npy")  # the old array is gone
    cache_file.write_bytes(b"not an array")
    data = Fer2013Csv(path).load("train")
    np.testing.assert_array_equal(data.images[..., 0], np.stack(new_faces))
    (index,) = (tmp_path / "fer.csv.cache").glob("train-*.json")
    index.write_text("{truncated")
    data = Fer2013Csv(path).load("train")
    np.testing.assert_array_equal(data.images[..., 0], np.stack(new_faces))


def test_csv_edit_that_breaks_a_row_is_not_hidden_by_the_cache(tmp_path: Path) -> None:
    rows, _, _ = good_rows(2)
    path = write_csv(tmp_path / "fer.csv", rows)
    Fer2013Csv(path).load("train")
    write_csv(path, [rows[0], BAD_ROWS["too big"][0]])
    bump_mtime(path)
    with pytest.raises(DataError, match=r"fer\.csv:3: pixel 2304 is 256"):
        Fer2013Csv(path).load("train")


def test_csv_rejects_bad_arguments(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "fer.csv", good_rows(1)[0])
    with pytest.raises(ValueError, match="on_bad_sample"):
        Fer2013Csv(path, on_bad_sample="ignore")
    with pytest.raises(ValueError, match="split must be one of"):
        Fer2013Csv(path).load("training")  # type: ignore[arg-type]


# -- image folders -----------------------------------------------------------------------------


def save(path: Path, arr: np.ndarray, **kwargs) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kwargs)
    return arr


def rgb(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def gray(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, (h, w), dtype=np.uint8)


def test_folders_mixed_formats_sizes_and_modes_are_resized(tmp_path: Path) -> None:
    save(tmp_path / "train/happy/a.png", rgb(30, 40))
    save(tmp_path / "train/happy/b.jpg", gray(64, 64), quality=95)
    save(tmp_path / "train/angry/c.png", np.dstack([rgb(20, 20), np.full((20, 20), 128, np.uint8)]))
    save(tmp_path / "val/happy/d.jpeg", rgb(50, 25), quality=95)

    source = ImageFolders(tmp_path, image_size=32, channels=3)
    assert source.classes == ("angry", "happy")
    assert source.available_splits() == ("train", "val")
    train = source.load("train")
    assert train.images.shape == (3, 32, 32, 3) and train.images.dtype == np.uint8
    assert train.labels.tolist() == [0, 1, 1]  # angry/c, happy/a, happy/b
    # the grey JPEG became RGB by replication
    b = train.images[2].astype(int)
    assert np.array_equal(b[..., 0], b[..., 1]) and np.array_equal(b[..., 1], b[..., 2])
    # resizing is PIL's Lanczos on the converted image
    with Image.open(tmp_path / "train/happy/a.png") as im:
        expected = np.asarray(im.convert("RGB").resize((32, 32), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(train.images[1], expected)
    assert source.load("val").images.shape == (1, 32, 32, 3)

    grey = ImageFolders(tmp_path, image_size=16, channels=1).load("train")
    assert grey.images.shape == (3, 16, 16, 1)


def test_folders_native_size_keeps_exact_pixels(tmp_path: Path) -> None:
    a = save(tmp_path / "train/x/a.png", gray(12, 10))
    b = save(tmp_path / "train/y/b.png", gray(12, 10))
    data = ImageFolders(tmp_path, channels=1).load("train")
    assert data.images.shape == (2, 12, 10, 1)
    np.testing.assert_array_equal(data.images[..., 0], np.stack([a, b]))


def test_folders_turn_photos_upright_and_scale_16_bit_grey(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(gray(2, 4)).save(tmp_path / "a.png")
    (tmp_path / "train/x").mkdir(parents=True)
    Image.open(tmp_path / "a.png").save(tmp_path / "train/x/phone.png", exif=exif)
    assert ImageFolders(tmp_path).load("train").images.shape == (1, 4, 2, 3)

    deep = np.array([[0, 257 * 100], [65535, 257 * 7]], dtype=np.uint16)
    save(tmp_path / "g/train/x/deep.png", deep)
    data = ImageFolders(tmp_path / "g", channels=1).load("train")
    assert data.images[0, ..., 0].tolist() == [[0, 100], [255, 7]]


def test_folders_of_different_sizes_need_image_size(tmp_path: Path) -> None:
    save(tmp_path / "train/x/a.png", gray(12, 12))
    save(tmp_path / "train/x/b.png", gray(13, 12))
    with pytest.raises(DataError, match=r"b\.png: image is 12×13 .*set image_size"):
        ImageFolders(tmp_path).load("train")


def test_folders_given_class_order_aliases_and_unknown_folder(tmp_path: Path) -> None:
    save(tmp_path / "Training/Happy/a.png", gray(8, 8))
    save(tmp_path / "Training/2/b.png", gray(8, 8))
    save(tmp_path / "PrivateTest/happy/c.png", gray(8, 8))
    source = ImageFolders(
        tmp_path, channels=1, classes=("sad", "happy"), class_aliases={"2": "sad"}
    )
    assert source.classes == ("sad", "happy")
    assert source.available_splits() == ("train", "test")
    data = source.load("train")
    assert data.labels.tolist() == [0, 1]  # 2/b → sad, Happy/a → happy
    assert source.load("test").labels.tolist() == [1]  # test may lack a class

    save(tmp_path / "Training/surprise/d.png", gray(8, 8))
    with pytest.raises(DataError, match=r"surprise: folder 'surprise' is not one of the classes"):
        source.load("train")


def test_folders_train_must_have_every_given_class(tmp_path: Path) -> None:
    save(tmp_path / "train/happy/a.png", gray(8, 8))
    with pytest.raises(DataError, match="no training images for class.*sad"):
        ImageFolders(tmp_path, classes=("happy", "sad")).load("train")


def test_folders_split_dirs_mapping_and_ambiguous_aliases(tmp_path: Path) -> None:
    save(tmp_path / "fit/a/x.png", gray(8, 8))
    save(tmp_path / "holdout/a/y.png", gray(8, 8))
    source = ImageFolders(tmp_path, split_dirs={"train": "fit", "test": ["holdout"]})
    assert source.available_splits() == ("train", "test")
    save(tmp_path / "val/a/z.png", gray(8, 8))
    save(tmp_path / "validation/a/z.png", gray(8, 8))
    with pytest.raises(DataError, match="more than one folder for split 'val': val, validation"):
        ImageFolders(tmp_path, split_dirs={"train": "fit"})


def test_folders_corrupt_image_is_an_error_every_time_or_skipped(tmp_path: Path, caplog) -> None:
    save(tmp_path / "train/a/good1.png", gray(8, 8))
    save(tmp_path / "train/a/good2.png", gray(8, 8))
    bad = tmp_path / "train/a/x.png"
    bad.write_bytes(b"\x89PNG garbage, not an image")
    for _ in range(2):
        with pytest.raises(DataError, match="x.png: cannot decode image") as err:
            ImageFolders(tmp_path).load("train")
        assert str(bad) in str(err.value)
    with caplog.at_level(logging.WARNING):
        data = ImageFolders(tmp_path, on_bad_sample="skip").load("train")
    assert len(data.labels) == 2 and data.skipped == 1
    assert data.skip_reasons[0].startswith(f"{bad}: cannot decode image")
    assert any("skipped 1 bad samples" in r.getMessage() for r in caplog.records)


def test_folders_truncated_jpeg_is_reported(tmp_path: Path) -> None:
    save(tmp_path / "train/a/good.jpg", rgb(64, 64))
    whole = (tmp_path / "train/a/good.jpg").read_bytes()
    (tmp_path / "train/a/cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg: cannot decode image"):
        ImageFolders(tmp_path).load("train")


def test_folders_empty_class_folder_is_an_error(tmp_path: Path) -> None:
    save(tmp_path / "train/a/x.png", gray(8, 8))
    (tmp_path / "train/b").mkdir()
    (tmp_path / "train/b/notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"train/b: empty class folder"):
        ImageFolders(tmp_path).load("train")


def test_folders_missing_root_or_splits_give_the_hint(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nowhere.*; unzip it there"):
        ImageFolders(tmp_path / "nowhere", hint="unzip it there")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no split folders.*; unzip it there"):
        ImageFolders(tmp_path / "empty", hint="unzip it there")


def test_folders_ignore_hidden_files_non_images_and_the_cache(tmp_path: Path) -> None:
    save(tmp_path / "train/a/x.png", gray(8, 8))
    save(tmp_path / "train/.hidden/y.png", gray(8, 8))
    (tmp_path / "train/a/.DS_Store").write_bytes(b"junk")
    (tmp_path / "train/a/._x.png").write_bytes(b"junk")
    (tmp_path / "train/a/Thumbs.db").write_bytes(b"junk")
    first = ImageFolders(tmp_path).load("train")
    assert (tmp_path / CACHE_DIRNAME).is_dir()
    again = ImageFolders(tmp_path)
    assert again.classes == ("a",)
    assert len(first.labels) == len(again.load("train").labels) == 1


def test_folders_cache_hit_and_invalidation(tmp_path: Path, monkeypatch) -> None:
    save(tmp_path / "train/a/x.png", gray(8, 8))
    first = ImageFolders(tmp_path, image_size=8).load("train")
    real_decode = decode_mod.decode_images
    calls: list[int] = []

    def counting_decode(paths, *args, **kwargs):
        calls.append(len(paths))
        return real_decode(paths, *args, **kwargs)

    monkeypatch.setattr(decode_mod, "decode_images", counting_decode)
    hit = ImageFolders(tmp_path, image_size=8).load("train")
    assert calls == [] and np.array_equal(hit.images, first.images)

    other_size = ImageFolders(tmp_path, image_size=4).load("train")  # settings are in the key
    assert calls == [1] and other_size.images.shape == (1, 4, 4, 3)

    save(tmp_path / "train/a/y.png", gray(8, 8))  # a new image changes the listing
    assert len(ImageFolders(tmp_path, image_size=8).load("train").labels) == 2
    assert calls == [1, 2]

    replaced = save(tmp_path / "train/a/x.png", gray(8, 8))  # so does rewriting one
    bump_mtime(tmp_path / "train/a/x.png")
    data = ImageFolders(tmp_path, image_size=8).load("train")
    assert calls == [1, 2, 2]
    np.testing.assert_array_equal(data.images[0], np.dstack([replaced] * 3))


def test_folders_reject_bad_arguments(tmp_path: Path) -> None:
    save(tmp_path / "train/a/x.png", gray(8, 8))
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        ImageFolders(tmp_path, channels=4)
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        ImageFolders(tmp_path, image_size=0)
    with pytest.raises(DataError, match="no folder for split 'test'"):
        ImageFolders(tmp_path).load("test")


# -- annotation files --------------------------------------------------------------------------

CLASSES8 = ("amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear", "sadness")


def annotated_tree(root: Path) -> dict[str, np.ndarray]:
    return {
        name: save(root / name, rgb(10, 10))
        for name in ("img/a.png", "img/b.png", "img/c.png", "img/d.png")
    }


def test_annotation_csv_with_names_indices_and_split_aliases(tmp_path: Path) -> None:
    images = annotated_tree(tmp_path)
    ann = tmp_path / "annotations.csv"
    ann.write_text(
        "path,label,split,source\n"
        "img/a.png,awe,train,web\n"
        "img/b.png,7,training,web\n"
        "img/c.png,Fear,validation,web\n"
        "img/d.png,0,test,web\n",
        encoding="utf-8",
    )
    # EmoSet's own ids: 7 is sadness, 0 amusement (not positions in our alphabetical list)
    source = AnnotationFile(ann, classes=CLASSES8, ids={7: "sadness", 0: "amusement"})
    assert source.available_splits() == ("train", "val", "test")
    train = source.load("train")
    assert train.labels.tolist() == [2, 7]
    np.testing.assert_array_equal(
        train.images, np.stack([images["img/a.png"], images["img/b.png"]])
    )
    assert source.load("val").labels.tolist() == [6]
    assert source.load("test").labels.tolist() == [0]


def test_annotation_ids_outside_the_table_and_onto_unknown_classes(tmp_path: Path) -> None:
    annotated_tree(tmp_path)
    ann = tmp_path / "ann.csv"
    ann.write_text("path,label,split\nimg/a.png,4,train\nimg/b.png,9,train\n")
    ids = {4: "anger", 0: "amusement"}
    with pytest.raises(DataError, match=r"ann\.csv:3: unknown label id '9' \(ids: 4 anger, 0 amu"):
        AnnotationFile(ann, classes=CLASSES8, ids=ids).load("train")
    data = AnnotationFile(ann, classes=CLASSES8, ids=ids, on_bad_sample="skip").load("train")
    assert data.labels.tolist() == [CLASSES8.index("anger")] and data.skipped == 1
    with pytest.raises(ValueError, match="data.source.ids maps onto unknown class"):
        AnnotationFile(ann, classes=CLASSES8, ids={4: "rage"})


def test_annotation_tsv_with_separate_root_and_inferred_classes(tmp_path: Path) -> None:
    annotated_tree(tmp_path / "images")
    ann = tmp_path / "lists" / "split.tsv"
    ann.parent.mkdir()
    ann.write_text("path\tlabel\tsplit\nimg/a.png\tsad\ttrain\nimg/b.png\thappy\ttrain\n")
    source = AnnotationFile(ann, root=tmp_path / "images", image_size=4, channels=1)
    assert source.classes == ("happy", "sad")
    data = source.load("train")
    assert data.images.shape == (2, 4, 4, 1) and data.labels.tolist() == [1, 0]


BAD_ANNOTATIONS = {
    "columns": ("img/a.png,awe", "expected 3 columns, got 2"),
    "class": ("img/a.png,joy,train", "unknown class 'joy'"),
    "number": ("img/a.png,8,train", "label '8' is a number, and numbers are read only"),
    "split": ("img/a.png,awe,holdout", "unknown split 'holdout'"),
    "missing image": ("img/zz.png,awe,train", "image not found: "),
}


@pytest.mark.parametrize("kind", sorted(BAD_ANNOTATIONS))
def test_annotation_bad_row_names_file_and_line(tmp_path: Path, kind: str) -> None:
    annotated_tree(tmp_path)
    row, what = BAD_ANNOTATIONS[kind]
    ann = tmp_path / "ann.csv"
    ann.write_text(f"path,label,split\nimg/a.png,awe,train\nimg/b.png,fear,test\n{row}\n")
    with pytest.raises(DataError, match=r"ann\.csv:4: ") as err:
        AnnotationFile(ann, classes=CLASSES8).load("train")
    assert what in str(err.value)
    if kind == "missing image":
        assert str(tmp_path / "img/zz.png") in str(err.value)


def test_annotation_skip_mode_and_header(tmp_path: Path) -> None:
    annotated_tree(tmp_path)
    ann = tmp_path / "ann.csv"
    ann.write_text("path,label,split\nimg/a.png,awe,train\nimg/zz.png,awe,train\nimg/b.png,x,val\n")
    data = AnnotationFile(ann, classes=CLASSES8, on_bad_sample="skip").load("train")
    assert data.labels.tolist() == [2] and data.skipped == 1
    assert "ann.csv:3: image not found" in data.skip_reasons[0]

    ann.write_text("file,label,split\nimg/a.png,awe,train\n")
    with pytest.raises(DataError, match=r"ann\.csv:1: header lacks column\(s\) path"):
        AnnotationFile(ann, classes=CLASSES8).load("train")
    with pytest.raises(DatasetNotFoundError, match="put it here"):
        AnnotationFile(tmp_path / "nope.csv", classes=CLASSES8, hint="put it here")


def test_annotation_decode_error_names_row_and_path(tmp_path: Path, monkeypatch) -> None:
    annotated_tree(tmp_path)
    (tmp_path / "img/broken.jpg").write_bytes(b"garbage")
    ann = tmp_path / "ann.csv"
    ann.write_text("path,label,split\nimg/a.png,awe,train\nimg/broken.jpg,awe,train\n")
    with pytest.raises(DataError, match=r"ann\.csv:3: .*broken\.jpg: cannot decode image"):
        AnnotationFile(ann, classes=CLASSES8).load("train")
    ann.write_text("path,label,split\nimg/a.png,awe,train\n")
    bump_mtime(ann)
    good = AnnotationFile(ann, classes=CLASSES8).load("train")
    monkeypatch.setattr(decode_mod, "decode_images", None)  # a hit must not decode
    assert np.array_equal(AnnotationFile(ann, classes=CLASSES8).load("train").images, good.images)
