"""FI read as shipped: eight emotion folders, no split, so a fixed, stratified, seeded
80 / 5 / 15 split that any copy of the release reproduces, whatever order files are listed in."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats import folders
from emotion_lab.data.sets import MIKELS8
from emotion_lab.data.sets import fi as fi_module
from emotion_lab.data.sets.fi import Fi8

PER_CLASS = 20  # 80 / 5 / 15 % of 20: 16 / 1 / 3 per emotion


def grey(label: int) -> int:
    """The grey level that encodes MIKELS8 class ``label`` in an imitation's pixels."""
    return 20 + 25 * label


def fi_release(root: Path, top: str = "emotion_dataset", per_class: int = PER_CLASS) -> Path:
    """An imitation of the unpacked archive: ``emotion_dataset/<emotion>/<emotion>_NNNN.jpg``,
    each image's grey level encoding its emotion."""
    base = root / top
    for label, emotion in enumerate(MIKELS8):
        for i in range(per_class):
            path = base / emotion / f"{emotion}_{i + 1:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((10, 14, 3), grey(label), np.uint8)).save(path, quality=98)
    return base


def decoded_classes(images: np.ndarray) -> list[int]:
    return [round((int(img[0, 0, 0]) - 20) / 25) for img in images]


def test_folders_are_the_labels_and_the_fixed_split_is_stratified(tmp_path: Path) -> None:
    base = fi_release(tmp_path / "fi8")
    source = Fi8(tmp_path / "fi8", image_size=8)
    assert source.release == base and source.classes == MIKELS8
    assert source.available_splits() == ("train", "val", "test")
    for split, n in {"train": 16, "val": 1, "test": 3}.items():
        data = source.load(split)
        assert data.labels.tolist() == decoded_classes(data.images)
        assert np.bincount(data.labels, minlength=8).tolist() == [n] * 8


def test_the_split_is_the_same_for_every_copy_and_written_with_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fi_release(tmp_path / "fi8")
    first = Fi8(tmp_path / "fi8", image_size=8)
    described = first.describe()
    assert described["split"] == "fixed: train 80 % / val 5 % / test 15 % (stratified, seed 0)"
    digest = described["split_digest"]
    split_file = Path(described["split_file"])
    assert digest in split_file.name
    lines = split_file.read_text().splitlines()
    assert len(lines) == 8 * PER_CLASS
    assert sum(line.startswith("test\t") for line in lines) == 24
    assert sum(line.endswith("\tawe/awe_0001.jpg") for line in lines) == 1
    test_keys = {line.split("\t")[1] for line in lines if line.startswith("test\t")}

    # another instance, and a copy elsewhere without the top folder: the same split
    assert Fi8(tmp_path / "fi8").describe()["split_digest"] == digest
    shutil.copytree(tmp_path / "fi8/emotion_dataset", tmp_path / "copy/fi8")
    assert Fi8(tmp_path / "copy/fi8", image_size=8).describe()["split_digest"] == digest

    # files listed in another order: the same split
    monkeypatch.setattr(fi_module, "list_images", lambda d: folders.list_images(d)[::-1])
    reordered = Fi8(tmp_path / "fi8", image_size=8)
    assert reordered.describe()["split_digest"] == digest
    test = reordered.load("test")
    assert sorted(test.labels.tolist()) == sorted(decoded_classes(test.images))
    assert len(test_keys) == len(test.labels) == 24


def test_unknown_and_missing_folders_are_one_line_errors(tmp_path: Path) -> None:
    base = fi_release(tmp_path / "fi8", per_class=2)
    (base / ".thumbnails").mkdir()  # hidden: ignored
    (base / "readme.txt").write_text("FI")
    Fi8(tmp_path / "fi8", image_size=8).load("train")
    (base / "joy").mkdir()
    with pytest.raises(DataError, match=r"emotion_dataset: unknown folder 'joy'; FI has one"):
        Fi8(tmp_path / "fi8").load("train")
    (base / "joy").rmdir()
    shutil.rmtree(base / "fear")
    with pytest.raises(DataError, match=r"emotion folder\(s\) missing: fear$"):
        Fi8(tmp_path / "fi8").load("train")


def test_an_unreadable_image_stops_or_is_skipped_and_counted(tmp_path: Path) -> None:
    base = fi_release(tmp_path / "fi8")
    broken = base / "awe" / "awe_0003.jpg"
    broken.write_bytes(b"not a jpeg")
    split = Fi8(tmp_path / "fi8").describe()["split_file"]
    rows = (line.split("\t") for line in Path(split).read_text().splitlines())
    where = next(s for s, key in rows if key == "awe/awe_0003.jpg")
    with pytest.raises(DataError, match="awe_0003.jpg"):
        Fi8(tmp_path / "fi8", image_size=8).load(where)
    data = Fi8(tmp_path / "fi8", image_size=8, on_bad_sample="skip").load(where)
    assert data.skipped == 1 and MIKELS8.index("awe") in data.labels.tolist()


def test_missing_release_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="emotion_dataset"):
        Fi8(tmp_path / "fi8")


def test_the_config_builds_a_data_module(tmp_path: Path) -> None:
    fi_release(tmp_path / "fi8", per_class=PER_CLASS)
    cfg = compose_config("train", ["data=fi8", f"paths.data_dir={tmp_path}"])
    assert cfg.data.root == str(tmp_path / "fi8")
    dm = instantiate(cfg.data)
    assert isinstance(dm.source, Fi8)
    dm.setup()
    assert dm.classes == MIKELS8 and len(dm.splits["test"]) == 24
    assert len(dm.splits["val"]) == 8
