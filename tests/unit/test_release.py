"""The official-release reader base, on RAF-DB basic: ids by the set's table, face crops at
decode, bad rows named by file and line, fixed splits, and the geometry helpers it uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.data.crops import Box, crop_rect, to_square
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.sets import BASIC7
from emotion_lab.data.sets.rafdb import RafDb
from emotion_lab.data.splits import FixedSplit, assign, split_digest
from emotion_lab.errors import ConfigError

RAF_IDS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}
FACE = (100, 50, 200, 150)  # left, top, right, bottom of the face in every original photo


def grey(label: int) -> int:
    """The grey level that encodes canonical class ``label`` in an imitation's pixels."""
    return 20 + 30 * label


def raf_release(root: Path, rows: list[tuple[str, int]], top: str = "basic") -> Path:
    """An imitation of RAF-DB's basic/ folder: the label list, aligned faces whose grey level
    encodes the class, and original photos (dark) with the face at FACE and its box file."""
    base = root / top if top else root
    for sub in ("EmoLabel", "Image/aligned", "Image/original", "Annotation/boundingbox"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    lines = []
    for image, raf_id in rows:
        lines.append(f"{image} {raf_id}")
        stem = Path(image).stem
        value = grey(BASIC7.index(RAF_IDS[raf_id])) if raf_id in RAF_IDS else 0
        Image.fromarray(np.full((100, 100, 3), value, np.uint8)).save(
            base / "Image/aligned" / f"{stem}_aligned.jpg", quality=98
        )
        photo = np.full((200, 300, 3), 255, np.uint8)
        left, top_, right, bottom = FACE
        photo[top_:bottom, left:right] = value
        Image.fromarray(photo).save(base / "Image/original" / image, quality=98)
        (base / "Annotation/boundingbox" / f"{stem}_boundingbox.txt").write_text(
            " ".join(f"{v:.1f}" for v in FACE) + "\n"
        )
    (base / "EmoLabel/list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return base


def rows_for(n_train: int, n_test: int) -> list[tuple[str, int]]:
    return [(f"train_{i + 1:05d}.jpg", i % 7 + 1) for i in range(n_train)] + [
        (f"test_{i + 1:04d}.jpg", i % 7 + 1) for i in range(n_test)
    ]


def decoded_classes(images: np.ndarray) -> list[int]:
    """The class each decoded image encodes, from its centre pixel."""
    centre = images[:, images.shape[1] // 2, images.shape[2] // 2, 0].astype(int)
    return [round((v - 20) / 30) for v in centre]


def test_labels_go_through_rafdbs_own_id_table(tmp_path: Path) -> None:
    raf_release(tmp_path / "rafdb", rows_for(14, 7))
    source = RafDb(tmp_path / "rafdb", image_size=16)
    assert source.available_splits() == ("train", "test")
    for split, n in (("train", 14), ("test", 7)):
        data = source.load(split)
        assert len(data.labels) == n
        assert data.labels.tolist() == decoded_classes(data.images)
    # RAF-DB's 1 is surprise, not the first of our classes (angry)
    assert source.load("train").labels[0] == BASIC7.index("surprise")
    assert source.describe()["ids"]["6"] == "angry"


def test_original_photos_are_cropped_by_their_boxes_with_a_margin(tmp_path: Path) -> None:
    raf_release(tmp_path / "rafdb", rows_for(7, 0))
    tight = RafDb(tmp_path / "rafdb", image_size=20, images="original").load("train")
    assert tight.labels.tolist() == decoded_classes(tight.images)
    corners = tight.images[:, [1, 1, -2, -2], [1, -2, 1, -2], 0].astype(int)
    assert np.abs(corners - np.array([[grey(c)] * 4 for c in tight.labels])).max() <= 3
    wide = RafDb(tmp_path / "rafdb", image_size=20, images="original", margin=0.25).load("train")
    assert wide.labels.tolist() == decoded_classes(wide.images)
    assert (wide.images[:, 0, 0, 0] > 240).all()  # the white photo around the face shows


def test_the_release_is_found_with_or_without_the_archives_top_folder(tmp_path: Path) -> None:
    raf_release(tmp_path / "a", rows_for(7, 7), top="")
    raf_release(tmp_path / "b", rows_for(7, 7), top="basic")
    assert RafDb(tmp_path / "a").release == tmp_path / "a"
    assert RafDb(tmp_path / "b").release == tmp_path / "b" / "basic"
    with pytest.raises(DatasetNotFoundError, match="data set folder not found: .*c; RAF-DB"):
        RafDb(tmp_path / "c")
    (tmp_path / "c" / "basic").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no EmoLabel/list_patition_label.txt in it"):
        RafDb(tmp_path / "c")


def _relabel(base: Path, line: int, text: str) -> Path:
    labels = base / "EmoLabel/list_patition_label.txt"
    lines = labels.read_text().splitlines()
    lines[line - 1] = text
    labels.write_text("\n".join(lines) + "\n")
    return labels


def test_an_unknown_id_is_named_by_file_and_line_or_skipped_and_counted(tmp_path: Path) -> None:
    base = raf_release(tmp_path / "rafdb", rows_for(14, 7))
    labels = _relabel(base, 3, "train_00003.jpg 8")
    with pytest.raises(
        DataError, match=rf"{labels}:3: unknown label id '8' \(rafdb ids: 1 surprise"
    ):
        RafDb(tmp_path / "rafdb").load("train")
    data = RafDb(tmp_path / "rafdb", on_bad_sample="skip").load("train")
    assert (len(data.labels), data.skipped, data.unassigned) == (13, 1, 0)
    assert data.labels.tolist() == decoded_classes(data.images)


def test_conflicting_and_repeated_rows_are_bad_samples(tmp_path: Path) -> None:
    base = raf_release(tmp_path / "rafdb", rows_for(14, 7))
    labels = _relabel(base, 2, "train_00001.jpg 2")  # train_00001 is also line 1 with id 1
    with pytest.raises(DataError, match=rf"{labels}:2: train_00001.jpg: labels it 'fear'"):
        RafDb(tmp_path / "rafdb").load("train")
    _relabel(base, 2, "train_00001.jpg 1")
    with pytest.raises(DataError, match=rf"{labels}:2: train_00001.jpg: repeats {labels}:1"):
        RafDb(tmp_path / "rafdb").load("train")
    data = RafDb(tmp_path / "rafdb", on_bad_sample="skip").load("train")
    assert len(data.labels) == 13 and data.skipped == 1


def test_a_missing_image_and_an_empty_box_are_bad_samples(tmp_path: Path) -> None:
    base = raf_release(tmp_path / "rafdb", rows_for(14, 7))
    (base / "Image/aligned/train_00004_aligned.jpg").unlink()
    with pytest.raises(DataError, match=r"list_patition_label.txt:4: image not found: .*00004"):
        RafDb(tmp_path / "rafdb").load("train")
    skipped = RafDb(tmp_path / "rafdb", on_bad_sample="skip").load("train")
    assert skipped.skipped == 1 and len(skipped.labels) == 13
    (base / "Annotation/boundingbox/train_00002_boundingbox.txt").write_text("400 300 500 350")
    with pytest.raises(DataError, match=r":2: .*face box \(400, 300, 500, 350\) lies outside"):
        RafDb(tmp_path / "rafdb", images="original").load("train")
    data = RafDb(tmp_path / "rafdb", images="original", on_bad_sample="skip").load("train")
    assert data.skipped == 1 and data.labels.tolist() == decoded_classes(data.images)


def test_a_changed_crop_setting_is_a_different_cache_entry(tmp_path: Path) -> None:
    raf_release(tmp_path / "rafdb", rows_for(7, 0))
    first = RafDb(tmp_path / "rafdb", image_size=20, images="original").load("train")
    wide = RafDb(tmp_path / "rafdb", image_size=20, images="original", margin=0.5).load("train")
    again = RafDb(tmp_path / "rafdb", image_size=20, images="original").load("train")
    assert first.cache is not None and wide.cache is not None
    assert first.cache.stem != wide.cache.stem
    assert not np.array_equal(first.images, wide.images)
    assert np.array_equal(first.images, again.images)


def test_bad_reader_options_are_one_line_config_errors(tmp_path: Path) -> None:
    raf_release(tmp_path / "rafdb", rows_for(7, 7))
    with pytest.raises(ConfigError, match="data.source.images must be one of aligned, original"):
        RafDb(tmp_path / "rafdb", images="cropped")
    with pytest.raises(ConfigError, match="data.resize must be one of"):
        RafDb(tmp_path / "rafdb", resize="squash")
    with pytest.raises(ConfigError, match=r"data.crop.margin must be a number in \[0, 10\]"):
        RafDb(tmp_path / "rafdb", margin=-0.1)


def test_the_rafdb_config_builds_a_data_module_with_resize_and_margin(tmp_path: Path) -> None:
    raf_release(tmp_path / "rafdb", rows_for(28, 14))
    cfg = compose_config(
        "train",
        [
            "data=rafdb",
            f"paths.data_dir={tmp_path}",
            "data.source.images=original",
            "data.crop.margin=0.1",
            "data.resize=pad",
        ],
    )
    dm = instantiate(cfg.data)
    assert (dm.source.margin, dm.source.resize) == (0.1, "pad")
    dm.setup()
    assert len(dm.splits["test"]) == 14 and dm.classes == BASIC7
    assert dm.describe()["release"] == str(tmp_path / "rafdb" / "basic")


def test_look_command_prints_counts_and_writes_a_contact_sheet(tmp_path: Path) -> None:
    raf_release(tmp_path / "rafdb", rows_for(28, 14))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "emotion_lab.data",
            "data=rafdb",
            f"paths.data_dir={tmp_path}",
            f"hydra.run.dir={out}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 → surprise" in proc.stdout and "official: train_*" in proc.stdout
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.width > 300 and sheet.height > 300
    report = json.loads((out / "data_report.json").read_text())
    assert sum(report["counts"]["test"]) == 14 and report["classes"] == list(BASIC7)
    assert sum(report["counts"]["train"]) + sum(report["counts"]["val"]) == 28


# -- geometry --------------------------------------------------------------------------------


def test_boxes_are_widened_and_clipped_to_the_image() -> None:
    assert crop_rect(Box(10, 10, 20, 30), 100, 100) == (10, 10, 20, 30)
    assert crop_rect(Box(10, 10, 20, 30), 100, 100, margin=0.5) == (5, 0, 25, 40)
    assert crop_rect(Box(-5, 90, 20, 130), 100, 100) == (0, 90, 20, 100)
    assert crop_rect(Box(150, 10, 160, 20), 100, 100) is None
    assert crop_rect(Box(10, 10, 10, 20), 100, 100) is None  # zero width


def test_resize_modes_keep_or_change_the_aspect_as_named() -> None:
    wide = np.zeros((10, 40), np.uint8)
    wide[:, 18:22] = 255  # a bright centre band
    img = Image.fromarray(wide)
    stretched = np.asarray(to_square(img, 20, "stretch"))
    cropped = np.asarray(to_square(img, 20, "shorter_side_center_crop"))
    padded = np.asarray(to_square(img, 20, "pad"))
    assert stretched.shape == cropped.shape == padded.shape == (20, 20)
    assert cropped[:, 10].min() > 200 and cropped[:, 0].max() < 60  # not squeezed
    assert (stretched[5] > 128).sum() < (cropped[5] > 128).sum()
    assert padded[0].max() == 0 and padded[-1].max() == 0  # black bars top and bottom
    assert padded[10, 10] > 200


# -- fixed splits ----------------------------------------------------------------------------


def test_a_fixed_split_is_stratified_seeded_and_independent_of_listing_order() -> None:
    keys = [f"img_{i:04d}.jpg" for i in range(200)]
    labels = [i % 4 for i in range(200)]
    rule = FixedSplit({"train": 0.8, "val": 0.05, "test": 0.15}, seed=0)
    splits = assign(keys, labels, rule)
    for label in range(4):
        mine = [s for s, lab in zip(splits, labels, strict=True) if lab == label]
        assert (mine.count("train"), mine.count("val"), mine.count("test")) in {
            (40, 2, 8),
            (40, 3, 7),
            (40, 2, 7),
            (41, 2, 7),
            (40, 3, 8),
        }
        assert len(mine) == 50
    order = np.random.default_rng(1).permutation(200)
    shuffled = assign([keys[i] for i in order], [labels[i] for i in order], rule)
    assert {keys[i]: s for i, s in zip(order, shuffled, strict=True)} == dict(
        zip(keys, splits, strict=True)
    )
    other_seed = assign(keys, labels, FixedSplit(rule.ratios, seed=1))
    assert other_seed != splits
    assert split_digest(keys, splits) != split_digest(keys, other_seed)


def test_split_ratios_are_checked() -> None:
    with pytest.raises(ConfigError, match="sum to 1"):
        FixedSplit({"train": 0.8, "test": 0.1})
    with pytest.raises(ConfigError, match="unknown split"):
        FixedSplit({"train": 0.8, "holdout": 0.2})
