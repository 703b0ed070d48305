"""Bad data on disk: each class of fault is one line naming the file and row or path, and
nothing from a failed read is cached or trusted later."""

from __future__ import annotations

import gzip
import logging
import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats import AnnotationFile, Fer2013Csv, ImageFolders
from emotion_lab.data.formats import folders as folders_mod
from emotion_lab.data.formats.cache import CACHE_DIRNAME

RNG = np.random.default_rng(11)


def fer_row(label: int, usage: str = "Training") -> str:
    return f"{label},{' '.join(map(str, RNG.integers(0, 256, 2304)))},{usage}"


def write_fer(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["emotion,pixels,Usage", *rows]) + "\n", encoding="utf-8")
    return path


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def no_arrays(folder: Path) -> bool:
    return not list(folder.glob("*.npy")) if folder.exists() else True


def png(path: Path, side: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
    return path


def folder_tree(root: Path, per_class: int = 3) -> None:
    for split in ("train", "test"):
        for label in ("a", "b"):
            for i in range(per_class):
                png(root / split / label / f"{i}.png")


# -- FER2013 CSV -------------------------------------------------------------------------------


def test_csv_unterminated_quote_names_the_row_it_starts_on(tmp_path: Path) -> None:
    rows = [fer_row(1), '3,"' + fer_row(2).split(",", 1)[1], *[fer_row(4) for _ in range(80)]]
    path = write_fer(tmp_path / "broken.csv", rows)
    with pytest.raises(DataError) as err:
        Fer2013Csv(path).load("train")
    text = one_line(err)
    assert text.startswith(f"{path}:3: malformed row (field larger than field limit")
    assert "unterminated quote" in text
    assert no_arrays(tmp_path / "broken.csv.cache")


def test_csv_that_is_gzip_compressed_says_so(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    path.write_bytes(gzip.compress(("emotion,pixels,Usage\n" + fer_row(1) + "\n").encode()))
    with pytest.raises(DataError) as err:
        Fer2013Csv(path).load("train")
    assert (
        one_line(err)
        == f"{path}: is gzip-compressed (decompress it first: gunzip), not a text file"
    )


def test_csv_latin1_byte_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "fer2013.csv"
    bad = fer_row(2, "Training\xe9")
    text = "emotion,pixels,Usage\n" + fer_row(1) + "\n" + bad + "\n"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError) as err:
        Fer2013Csv(path).load("train")
    column = len(bad)  # the last character of the row
    assert one_line(err) == (
        f"{path}:3: byte 0xe9 at column {column} is not UTF-8; save the file as UTF-8"
    )


def test_csv_without_training_rows_names_the_file(tmp_path: Path) -> None:
    path = write_fer(tmp_path / "fer2013.csv", [fer_row(i % 7, "PublicTest") for i in range(7)])
    dm = EmotionDataModule(source=partial(Fer2013Csv, path), image_size=48, channels=1)
    with pytest.raises(DataError) as err:
        dm.setup()
    assert one_line(err) == f"{path}: the data set has no train split (splits present: val)"


def test_csv_split_emptied_by_skipping_is_an_error_every_time(tmp_path: Path) -> None:
    rows = [fer_row(i % 7) for i in range(14)] + ["9," + fer_row(0, "PublicTest").split(",", 1)[1]]
    path = write_fer(tmp_path / "fer2013.csv", rows)
    for _ in range(2):  # nothing cached: the second read fails the same way
        with pytest.raises(DataError) as err:
            Fer2013Csv(path, on_bad_sample="skip").load("train")
        assert one_line(err).startswith(f"{path}: every row of split 'val' is bad (1 skipped;")
    assert no_arrays(tmp_path / "fer2013.csv.cache")


# -- image folders -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["..", "../.."])
def test_folder_link_back_up_the_tree_is_an_error_naming_it(tmp_path: Path, target) -> None:
    folder_tree(tmp_path)
    link = tmp_path / "train" / "a" / "up"
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(DataError) as err:
        ImageFolders(tmp_path, 8).load("train")
    text = one_line(err)
    assert "a folder already listed" in text and str(link) in text
    assert no_arrays(tmp_path / CACHE_DIRNAME)


def test_folder_link_to_a_folder_elsewhere_is_followed(tmp_path: Path) -> None:
    folder_tree(tmp_path / "data")
    png(tmp_path / "extra" / "x.png")
    (tmp_path / "data" / "train" / "a" / "more").symlink_to(tmp_path / "extra")
    assert len(ImageFolders(tmp_path / "data", 8).load("train").labels) == 7


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder, whatever its mode")
def test_unreadable_class_folder_is_one_line(tmp_path: Path) -> None:
    folder_tree(tmp_path)
    locked = tmp_path / "train" / "b"
    locked.chmod(0)
    try:
        with pytest.raises(DataError) as err:
            ImageFolders(tmp_path, 8).load("train")
    finally:
        locked.chmod(0o755)
    assert one_line(err) == f"{locked}: cannot read folder (permission denied)"


def test_permission_denied_on_a_class_folder_is_one_line(tmp_path: Path, monkeypatch) -> None:
    """What the OS answers a user who may not read the folder (tests may run as root)."""
    folder_tree(tmp_path)
    locked = tmp_path / "train" / "b"
    real = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(folders_mod.os, "scandir", scandir)
    with pytest.raises(DataError) as err:
        ImageFolders(tmp_path, 8).load("train")
    assert one_line(err) == f"{locked}: cannot read folder (permission denied)"


def test_dangling_links_are_bad_samples_not_silence(tmp_path: Path, caplog) -> None:
    folder_tree(tmp_path)
    gone = tmp_path / "train" / "a" / "gone.png"
    gone.symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(DataError) as err:
        ImageFolders(tmp_path, 8).load("train")
    assert one_line(err).startswith(f"{gone}: dangling link (its target ")
    with caplog.at_level(logging.WARNING):
        data = ImageFolders(tmp_path, 8, on_bad_sample="skip").load("train")
    assert data.skipped == 1 and len(data.labels) == 6
    assert data.skip_reasons[0].startswith(f"{gone}: dangling link")
    assert any("skipped 1 bad samples" in r.getMessage() for r in caplog.records)


# -- skip mode ---------------------------------------------------------------------------------


def annotation_set(root: Path, rows: list[str]) -> Path:
    for name in ("a0", "a1", "a2", "b0", "b1", "b2", "t0", "t1"):
        png(root / "img" / f"{name}.png")
    path = root / "ann.csv"
    path.write_text("path,label,split\n" + "\n".join(rows) + "\n")
    return path


GOOD_TRAIN = [f"img/{c}{i}.png,{c},train" for c in "ab" for i in range(3)]


def test_a_split_whose_rows_all_fail_is_an_error_not_cut_from_train(tmp_path: Path) -> None:
    ann = annotation_set(tmp_path, [*GOOD_TRAIN, "img/gone.png,a,val", "img/t0.png,a,test"])
    dm = EmotionDataModule(
        source=partial(AnnotationFile, ann, classes=("a", "b")),
        image_size=8,
        channels=3,
        on_bad_sample="skip",
    )
    with pytest.raises(DataError) as err:
        dm.setup()
    assert one_line(err).startswith(f"{ann}: no usable rows for split 'val' (all 1 skipped;")


def test_a_class_whose_training_images_all_fail_is_an_error(tmp_path: Path) -> None:
    folder_tree(tmp_path)
    for image in (tmp_path / "train" / "b").iterdir():
        image.write_bytes(b"broken")
    dm = EmotionDataModule(
        source=partial(ImageFolders, tmp_path), image_size=8, channels=3, on_bad_sample="skip"
    )
    with pytest.raises(DataError) as err:
        dm.setup()
    assert one_line(err).startswith(
        f"{tmp_path} (train): no training images left for class(es) b after skipping 3 bad"
    )


def test_skips_are_counted_once_per_split_on_the_datamodule(tmp_path: Path) -> None:
    rows = [
        *GOOD_TRAIN,
        "img/gone.png,a,train",  # bad, in train
        "img/t0.png,a,test",
        "img/t1.png,b,test",
        "img/a0.png,a,holdout",  # no usable split: counted once, not once per split
        "img/a1.png,a",
    ]
    ann = annotation_set(tmp_path, rows)
    dm = EmotionDataModule(
        source=partial(AnnotationFile, ann, classes=("a", "b"), allow_overlap=True),
        image_size=8,
        channels=3,
        on_bad_sample="skip",
        val_fraction=0.34,
    )
    dm.setup()
    assert dm.skipped == {"train": 1, "no split": 2}
    assert len(dm.splits["train"]) + len(dm.splits["val"]) == 6 and len(dm.splits["test"]) == 2


# -- annotation files --------------------------------------------------------------------------


def test_repeated_rows_are_dropped_with_a_count(tmp_path: Path, caplog) -> None:
    ann = annotation_set(tmp_path, [*GOOD_TRAIN, GOOD_TRAIN[0], GOOD_TRAIN[0], GOOD_TRAIN[4]])
    with caplog.at_level(logging.WARNING):
        data = AnnotationFile(ann, classes=("a", "b")).load("train")
    assert len(data.labels) == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{ann}: dropped 3 repeated row(s) (first: line 8, img/a0.png)"]


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        ("img/./a1.png,b,train", "is labelled 'b' but 'a' at line 3"),
        ("img/a2.png,a,test", "is in split 'test' but also in 'train' at line 4"),
    ],
)
def test_conflicting_labels_and_leakage_are_errors_unless_allowed(
    tmp_path: Path, extra: str, what: str
) -> None:
    ann = annotation_set(tmp_path, [*GOOD_TRAIN, "img/t0.png,a,test", extra])
    with pytest.raises(DataError) as err:
        AnnotationFile(ann, classes=("a", "b")).load("train")
    text = one_line(err)
    assert text.startswith(f"{ann}:9: image {extra.split(',')[0]} {what}")
    assert text.endswith("set data.allow_overlap=true to accept it")
    assert no_arrays(tmp_path / CACHE_DIRNAME)
    dm = EmotionDataModule(
        source=partial(AnnotationFile, ann, classes=("a", "b")),
        image_size=8,
        channels=3,
        allow_overlap=True,
        val_fraction=0.34,
    )
    dm.setup()  # accepted when asked for
    assert dm.source.allow_overlap
