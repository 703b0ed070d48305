"""EmoSet-118K read as shipped: labels through the release's own label2idx (positive emotions
first, not alphabetical), the official JSON splits, and bad entries named ``file[index]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.sets import MIKELS8
from emotion_lab.data.sets.emoset import LABEL2IDX, EmoSet118K

# the emotion table of the release's info.json (README, JingyuanYY/EmoSet): not alphabetical
INFO = {
    "emotion": {
        "label2idx": dict(LABEL2IDX),
        "idx2label": {str(v): k for k, v in LABEL2IDX.items()},
    },
    "brightness": {"label2idx": {"0.0": 0, "0.1": 1}, "idx2label": {"0": 0.0, "1": 0.1}},
}
COUNTS = {"train": 3, "val": 1, "test": 2}  # images per emotion and split


def grey(label: int) -> int:
    """The grey level that encodes MIKELS8 class ``label`` in an imitation's pixels."""
    return 20 + 25 * label


def entry(emotion: str, number: int) -> list[str]:
    image_id = f"{emotion}_{number:05d}"
    return [
        emotion,
        image_id,
        f"image/{emotion}/{image_id}.jpg",
        f"annotation/{emotion}/{image_id}.json",
    ]


def emoset_release(root: Path, top: str = "EmoSet-118K") -> Path:
    """An imitation of the unzipped release: info.json, the three split lists, and per entry an
    image whose grey level encodes its emotion (plus its annotation file)."""
    base = root / top
    number = 0
    for split, n in COUNTS.items():
        entries = []
        for emotion in LABEL2IDX:  # the release's order, not ours
            for _ in range(n):
                e = entry(emotion, number)
                number += 1
                entries.append(e)
                write_image(base / e[2], grey(MIKELS8.index(emotion)))
                (base / e[3]).parent.mkdir(parents=True, exist_ok=True)
                (base / e[3]).write_text('{"brightness": 0.1}')
        write_json(base / f"{split}.json", entries)
    write_json(base / "info.json", INFO)
    return base


def write_image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 16, 3), value, np.uint8)).save(path, quality=98)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4))


def decoded_classes(data: Any) -> list[int]:
    return [round((int(img[0, 0, 0]) - 20) / 25) for img in data.images]


def test_labels_follow_the_releases_label2idx_and_the_official_splits(tmp_path: Path) -> None:
    base = emoset_release(tmp_path / "emoset118k")
    source = EmoSet118K(tmp_path / "emoset118k", image_size=8)
    assert source.release == base and source.classes == MIKELS8
    assert source.ids["1"] == "awe" and MIKELS8[1] == "anger"  # by position would be wrong
    assert source.available_splits() == ("train", "val", "test")
    for split, n in COUNTS.items():
        data = source.load(split)
        assert data.labels.tolist() == decoded_classes(data)
        assert np.bincount(data.labels, minlength=8).tolist() == [n] * 8
    described = source.describe()
    assert described["split"].startswith("official") and described["ids"]["4"] == "anger"


def test_the_release_folder_is_found_without_its_top_folder(tmp_path: Path) -> None:
    base = emoset_release(tmp_path, top="emoset118k")
    data = EmoSet118K(base, image_size=8).load("val")
    assert data.labels.tolist() == decoded_classes(data)
    assert sorted(data.labels.tolist()) == list(range(8))


def test_an_info_json_with_another_emotion_table_stops(tmp_path: Path) -> None:
    base = emoset_release(tmp_path / "emoset118k")
    alphabetical = {e: i for i, e in enumerate(MIKELS8)}
    write_json(base / "info.json", {"emotion": {"label2idx": alphabetical}})
    with pytest.raises(DataError, match=r"info.json: emotion label2idx .* differs"):
        EmoSet118K(tmp_path / "emoset118k").load("train")
    write_json(base / "info.json", {"scene": {}})
    with pytest.raises(DataError, match=r"info.json: no emotion label2idx"):
        EmoSet118K(tmp_path / "emoset118k").load("train")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["amusement", "amusement_00001", "image/fear/fear_00001.jpg", "a.json"], "image/fear/"),
        (["joy", "joy_00001", "image/joy/joy_00001.jpg", "a.json"], "unknown emotion 'joy'"),
        (["awe", "image/awe/awe_00001.jpg", "a.json"], "expected \\[emotion, image_id"),
        ({"emotion": "awe"}, "expected \\[emotion, image_id"),
        (["awe", "fear_00001", "image/awe/fear_00001.jpg", "a.json"], "its id 'fear_00001'"),
    ],
)
def test_bad_entries_are_named_by_file_and_index(tmp_path: Path, bad: Any, message: str) -> None:
    base = emoset_release(tmp_path / "emoset118k")
    entries = json.loads((base / "train.json").read_text())
    entries.insert(1, bad)
    write_json(base / "train.json", entries)
    with pytest.raises(DataError, match=rf"train\.json\[1\]: .*{message}"):
        EmoSet118K(tmp_path / "emoset118k").load("test")
    skipping = EmoSet118K(tmp_path / "emoset118k", image_size=8, on_bad_sample="skip")
    data = skipping.load("train")
    assert data.skipped == 1 and len(data.labels) == 8 * COUNTS["train"]
    assert skipping.load("test").skipped == 0


def test_a_missing_image_a_broken_json_and_a_missing_list(tmp_path: Path) -> None:
    base = emoset_release(tmp_path / "emoset118k")
    (base / "image/sadness").joinpath(
        json.loads((base / "val.json").read_text())[-1][1] + ".jpg"
    ).unlink()
    with pytest.raises(DataError, match=r"val\.json\[7\]: image not found"):
        EmoSet118K(tmp_path / "emoset118k").load("val")
    (base / "test.json").write_text('[["awe", "awe_1",\n')
    with pytest.raises(DataError, match=r"test\.json:2: not valid JSON"):
        EmoSet118K(tmp_path / "emoset118k").load("train")
    (base / "test.json").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"label file not found: .*test\.json"):
        EmoSet118K(tmp_path / "emoset118k").load("train")


def test_missing_release_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="JingyuanYY/EmoSet"):
        EmoSet118K(tmp_path / "emoset118k")


def test_the_config_builds_a_data_module(tmp_path: Path) -> None:
    emoset_release(tmp_path / "emoset118k")
    cfg = compose_config("train", ["data=emoset118k", f"paths.data_dir={tmp_path}"])
    assert cfg.data.root == str(tmp_path / "emoset118k")
    dm = instantiate(cfg.data)
    assert isinstance(dm.source, EmoSet118K)
    dm.setup()
    assert dm.classes == MIKELS8 and len(dm.splits["test"]) == 8 * COUNTS["test"]
