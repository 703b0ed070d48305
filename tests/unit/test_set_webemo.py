"""WEBEmo read as shipped (URL lists with fine ids, images downloaded beside them) into the
sadness task: fine labels mapped by the hierarchy, dead URLs counted, train25 and test25 pooled
and cut by a fixed 80 / 10 / 10 split; also the subset as sad/ and not_sad/ folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.sets import SADNESS2
from emotion_lab.data.sets.webemo import FINE, FINE_NAMES, WebEmo
from emotion_lab.errors import ConfigError

SAD_IDS = {4, 13, 19, 20, 21, 23}  # disappointment, neglect, sadness, shame, suffering, sympathy
URL = "https://as2.ftcdn.net/jpg/00/42/93/{n:02d}/220_F_{n:08d}_2rowA8aFZs20JZ2Iq6WKArKK.jpg"


def grey(label: int) -> int:
    """The grey level that encodes SADNESS2 class ``label`` in an imitation's pixels."""
    return 40 + 150 * label


def write_image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((9, 12, 3), value, np.uint8)).save(path, quality=98)


def webemo_release(root: Path, per_list: dict[str, int] | None = None, dead: int = 0) -> Path:
    """The authors' lists ``train25.txt`` / ``test25.txt`` (``<URL> <fine id>``) and
    ``category.txt``, with the images where the download script puts them
    (``<split>/<fine id>/<URL file name>``), grey level = sad / not_sad; ``dead`` more lines
    per list whose image was never downloaded."""
    counts = per_list or {"train": 2, "test": 1}
    n = 0
    for split, k in counts.items():
        lines = []
        for fine in range(25):
            label = SADNESS2.index("sad" if fine in SAD_IDS else "not_sad")
            for _ in range(k):
                url = URL.format(n=n)
                n += 1
                lines.append(f"{url} {fine}")
                write_image(root / split / str(fine) / url.rsplit("/", 1)[-1], grey(label))
        for _ in range(dead):
            lines.append(f"{URL.format(n=n)} 19")
            n += 1
        (root / f"{split}25.txt").write_text("\n".join(lines) + "\n")
    (root / "category.txt").write_text("".join(f"{entry}\n" for entry in FINE))
    return root


def decoded_classes(images: np.ndarray) -> list[int]:
    return [round((int(img[0, 0, 0]) - 40) / 150) for img in images]


def test_fine_labels_map_to_sadness_by_the_hierarchy_and_the_lists_are_pooled(
    tmp_path: Path,
) -> None:
    webemo_release(tmp_path / "webemo", dead=2)
    source = WebEmo(tmp_path / "webemo", image_size=8)
    assert source.classes == SADNESS2
    assert {int(k) for k, v in source.ids.items() if v == "sad" and k.isdigit()} == SAD_IDS
    # 3 images per fine label: 18 sad, 57 not sad, cut 80 / 10 / 10 per class
    expected = {"train": [14, 45], "val": [2, 6], "test": [2, 6]}
    for split, counts in expected.items():
        data = source.load(split)
        assert data.labels.tolist() == decoded_classes(data.images)
        assert np.bincount(data.labels, minlength=2).tolist() == counts
    described = source.describe()
    assert described["split"] == "fixed: train 80 % / val 10 % / test 10 % (stratified, seed 0)"
    assert described["left_out"] == {
        f"listed URL not downloaded (no {split}/<fine id>/<file>)": 2 for split in ("train", "test")
    }
    assert described["split_digest"] in Path(described["split_file"]).name
    assert WebEmo(tmp_path / "webemo").describe()["split_digest"] == described["split_digest"]


def test_sad_and_not_sad_labels_can_be_chosen_and_the_rest_is_left_out(tmp_path: Path) -> None:
    webemo_release(tmp_path / "webemo", per_list={"train": 10, "test": 0})
    source = WebEmo(
        tmp_path / "webemo",
        image_size=8,
        sad_labels=["sadness", "suffering"],
        not_sad_labels=["zest", "relief"],
    )
    total = sum(len(source.load(s).labels) for s in ("train", "val", "test"))
    assert total == 40
    left_out = source.describe()["left_out"]
    assert sum(left_out.values()) == 21 * 10 and "id 4 (not in the 2-class protocol)" in left_out
    with pytest.raises(ConfigError, match="unknown fine label.*'happiness'"):
        WebEmo(tmp_path / "webemo", sad_labels=["happiness"])
    with pytest.raises(ConfigError, match="shame both in sad_labels and not_sad_labels"):
        WebEmo(tmp_path / "webemo", not_sad_labels=["shame", "zest"])


def test_bad_lines_are_named_by_file_and_line(tmp_path: Path) -> None:
    base = webemo_release(tmp_path / "webemo")
    lines = (base / "train25.txt").read_text().splitlines()
    (base / "train25.txt").write_text("\n".join([*lines[:3], "https://x/y.jpg", *lines[3:]]))
    with pytest.raises(DataError, match=r"train25\.txt:4: expected '<image URL> <fine id>'"):
        WebEmo(base).load("train")
    skipping = WebEmo(base, image_size=8, on_bad_sample="skip")
    assert skipping.load("test").unassigned == 1
    write_image(base / "train/25/z.jpg", 0)
    (base / "train25.txt").write_text("\n".join([*lines, "https://x/z.jpg 25"]))
    with pytest.raises(DataError, match=r"train25\.txt:51: unknown label id '25'"):
        WebEmo(base).load("train")


def test_a_category_txt_in_another_order_stops(tmp_path: Path) -> None:
    base = webemo_release(tmp_path / "webemo")
    swapped = [FINE[1], FINE[0], *FINE[2:]]
    (base / "category.txt").write_text(str(swapped))
    with pytest.raises(DataError, match=r"category\.txt: fine labels .* differ"):
        WebEmo(base).load("train")
    (base / "category.txt").write_text(str(list(FINE)))  # one Python list: also read
    assert len(WebEmo(base, image_size=8).load("test").labels) == 8


def test_the_subset_as_sad_and_not_sad_folders(tmp_path: Path) -> None:
    base = tmp_path / "webemo" / "WEBEmo_sadness"
    for label, folder in enumerate(SADNESS2):
        for i in range(10 * (label + 1)):
            write_image(base / folder / f"{i:05d}.jpg", grey(label))
    source = WebEmo(tmp_path / "webemo", image_size=8)
    assert source.release == base
    for split, counts in {"train": [8, 16], "val": [1, 2], "test": [1, 2]}.items():
        data = source.load(split)
        assert data.labels.tolist() == decoded_classes(data.images)
        assert np.bincount(data.labels, minlength=2).tolist() == counts
    (base / "happy").mkdir()
    with pytest.raises(DataError, match="unknown folder 'happy'; the sadness subset has sad/"):
        WebEmo(tmp_path / "webemo").load("train")


def test_missing_release_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="train25.txt"):
        WebEmo(tmp_path / "webemo")
    assert len(FINE_NAMES) == 25


def test_the_config_builds_a_data_module(tmp_path: Path) -> None:
    webemo_release(tmp_path / "webemo")
    cfg = compose_config(
        "train", ["data=webemo", f"paths.data_dir={tmp_path}", "data.source.sad_labels=[sadness]"]
    )
    assert cfg.data.root == str(tmp_path / "webemo")
    dm = instantiate(cfg.data)
    assert isinstance(dm.source, WebEmo) and dm.source.ids["4"] == "not_sad"
    dm.setup()
    assert dm.classes == SADNESS2 and len(dm.splits["test"]) == 7
