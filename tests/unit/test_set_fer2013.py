"""FER2013 is read from Kaggle's CSVs or its image-folder repack, as shipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.sets import BASIC7
from emotion_lab.data.sets.fer2013 import Fer2013

USAGES = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


def grey(label: int, split: str) -> int:
    """The grey level that encodes a face's id and split: each image says what it should be."""
    return 20 + 30 * label + {"train": 0, "val": 5, "test": 10}[split]


def pixels(value: int) -> str:
    return " ".join([str(value)] * 48 * 48)


def rows(per_class: int = 2) -> list[tuple[int, str]]:
    return [(label, split) for split in USAGES for label in range(7) for _ in range(per_class)]


def write_fer2013_csv(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    lines += [f"{lab},{pixels(grey(lab, s))},{USAGES[s]}" for lab, s in rows()]
    path = folder / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def write_icml_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["emotion, Usage, pixels"]
    lines += [f"{lab},{USAGES[s]},{pixels(grey(lab, s))}" for lab, s in rows()]
    path = folder / "icml_face_data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_folders(folder: Path) -> None:
    for split in ("train", "test"):
        for label, name in enumerate(BASIC7):
            for i in range(2):
                path = folder / split / name / f"{split}_{label}_{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                value = grey(label, split)
                Image.fromarray(np.full((48, 48), value, dtype=np.uint8)).save(path)


def check_split(source: Fer2013, split: str, tolerance: int = 0) -> None:
    data = source.load(split)  # type: ignore[arg-type]
    assert data.images.shape[1:] == (48, 48, 1)
    assert data.classes == BASIC7
    assert len(data.labels) == 14
    for image, label in zip(data.images, data.labels, strict=True):
        assert abs(int(image.mean()) - grey(int(label), split)) <= tolerance
        assert image.max() - image.min() <= 2 * tolerance


def test_csv_in_the_archive_top_folder_keeps_the_usage_splits(tmp_path: Path) -> None:
    path = write_fer2013_csv(tmp_path / "fer2013" / "fer2013")
    source = Fer2013(tmp_path / "fer2013")
    assert source.version == "csv"
    assert source.available_splits() == ("train", "val", "test")
    for split in USAGES:
        check_split(source, split)
    info = source.describe()
    assert info["read"] == str(path)
    assert info["ids"]["emotion 0"] == "angry" and info["ids"]["emotion 6"] == "neutral"
    assert "PublicTest → val" in info["split"] and "PrivateTest → test" in info["split"]


def test_icml_file_is_read_when_fer2013_csv_is_absent(tmp_path: Path) -> None:
    path = write_icml_csv(tmp_path / "fer2013")
    source = Fer2013(tmp_path / "fer2013")
    assert source.describe()["read"] == str(path)
    for split in USAGES:
        check_split(source, split)


def test_fer2013_csv_is_preferred_over_the_icml_file(tmp_path: Path) -> None:
    write_icml_csv(tmp_path / "fer2013")
    path = write_fer2013_csv(tmp_path / "fer2013")
    assert Fer2013(tmp_path / "fer2013").describe()["read"] == str(path)


def test_folder_version_has_no_val_and_says_its_protocol_differs(tmp_path: Path) -> None:
    write_folders(tmp_path / "fer2013")
    source = Fer2013(tmp_path / "fer2013")
    assert source.version == "folders"
    assert source.available_splits() == ("train", "test")
    check_split(source, "train", tolerance=2)
    check_split(source, "test", tolerance=2)
    info = source.describe()
    assert "no validation split" in info["split"] and "cut from train" in info["split"]
    assert info["ids"]["folder happy"] == "happy"


def test_unknown_id_names_the_line_or_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "fer2013"
    write_fer2013_csv(folder, extra=f"7,{pixels(1)},Training\n")
    line = 2 + len(rows())
    with pytest.raises(DataError, match=rf"fer2013.csv:{line}: label 7 outside 0..6"):
        Fer2013(folder).load("train")
    source = Fer2013(folder, on_bad_sample="skip", cache_dir=tmp_path / "cache")
    data = source.load("train")
    assert data.skipped == 1 and len(data.labels) == 14


def test_missing_release_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="fer2013.csv.*Kaggle"):
        Fer2013(tmp_path / "fer2013")


def test_config_composes_and_the_data_module_sets_up(tmp_path: Path) -> None:
    write_fer2013_csv(tmp_path / "fer2013")
    cfg = compose_config(
        "train", ["data=fer2013", f"paths.data_dir={tmp_path}", "model.input_size=32"]
    )
    dm = instantiate(cfg.data)
    assert isinstance(dm, EmotionDataModule) and isinstance(dm.source, Fer2013)
    dm.setup()
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 14, "val": 14, "test": 14}
    assert dm.describe()["version"] == "csv"
