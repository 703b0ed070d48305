"""ExpW read from imitations of its release: one sample per listed face, cropped by its
top/left/right/bottom box, ids by the release's table, the confidence filter, bad rows named by
file and line, and the fixed split (stratified, seeded, independent of line order)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.data.errors import DataError
from emotion_lab.data.sets import BASIC7
from emotion_lab.data.sets.expw import ExpW
from emotion_lab.errors import ConfigError

EXPW = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
BACKGROUND = 5
WIDTH, HEIGHT = 60, 40

# (image, face id, (top, left, right, bottom), confidence, label)
Face = tuple[str, int, tuple[int, int, int, int], float, int]


def grey(expw_id: int) -> int:
    """The grey level of a face whose ExpW id is ``expw_id``."""
    return 20 + 30 * expw_id


def expw_release(root: Path, faces: list[Face], images: str = "image/origin") -> Path:
    """The release's ``data`` folder under ``root``: label.lst with one line per face, and dark
    photos in which each face's box (clipped to the photo) is filled with its class's grey."""
    base = root / "data"
    (base / "label").mkdir(parents=True, exist_ok=True)
    photos: dict[str, np.ndarray] = {}
    lines = []
    for image, face, (top, left, right, bottom), confidence, label in faces:
        pixels = photos.setdefault(image, np.full((HEIGHT, WIDTH), BACKGROUND, np.uint8))
        pixels[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = grey(label)
        lines.append(f"{image} {face} {top} {left} {right} {bottom} {confidence} {label}")
    (base / images).mkdir(parents=True, exist_ok=True)
    for image, pixels in photos.items():
        # lossless, under the release's own .jpg name (PIL reads the content, not the name)
        Image.fromarray(pixels).save(base / images / image, format="PNG")
    (base / "label" / "label.lst").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return base


def one_face_per_class(start: int = 0) -> list[Face]:
    return [(f"single_{start + i}.jpg", 0, (4, 6, 26, 30), 50.0, i) for i in range(7)]


def check_faces(data, expected: Counter[int] | None = None) -> None:
    """Every face is uniform at its class's grey: cropped to its own box, nothing around."""
    for image, label in zip(data.images, data.labels, strict=True):
        assert abs(int(image.min()) - grey(int(label))) <= 1, int(label)
        assert abs(int(image.max()) - grey(int(label))) <= 1, int(label)
    if expected is not None:
        assert Counter(int(v) for v in data.labels) == expected


def test_each_face_of_a_photo_is_a_sample_cropped_to_its_own_box(tmp_path: Path) -> None:
    faces = one_face_per_class()
    faces += [
        ("group_of_two.jpg", 0, (2, 3, 20, 25), 40.0, 3),  # happy on the left
        ("group_of_two.jpg", 1, (10, 35, 55, 38), 30.0, 4),  # sad on the right
        ("edge.jpg", 0, (-6, -4, 12, 14), 20.0, 5),  # runs past the top-left corner: clipped
    ]
    source = ExpW(expw_release(tmp_path / "expw", faces), image_size=8, channels=1)
    assert source.classes == BASIC7 and source.release == tmp_path / "expw" / "data"
    assert [source.classes[i] for i in range(7)] == [EXPW[i] for i in range(7)]
    splits = {s: source.load(s) for s in source.available_splits()}
    counts: Counter[int] = Counter()
    for data in splits.values():
        check_faces(data)
        counts.update(int(v) for v in data.labels)
    assert counts == Counter([0, 1, 2, 3, 4, 5, 6, 3, 4, 5])


def test_box_order_is_top_left_right_bottom(tmp_path: Path) -> None:
    """Unscaled crops: every face is 11 wide and 7 tall wherever it sits."""
    faces: list[Face] = [
        ("a.jpg", 0, (20, 3, 14, 27), 9.0, 0),
        ("a.jpg", 1, (2, 30, 41, 9), 9.0, 1),
        ("b.jpg", 0, (30, 45, 56, 37), 9.0, 2),
    ]
    data = ExpW(expw_release(tmp_path / "expw", faces), channels=1).load("train")
    assert data.images.shape == (3, 7, 11, 1)
    check_faces(data, Counter([0, 1, 2]))


def test_box_outside_its_photo_is_a_bad_sample(tmp_path: Path) -> None:
    faces = [*one_face_per_class(), ("far.jpg", 0, (100, 100, 120, 130), 60.0, 2)]
    release = expw_release(tmp_path / "expw", faces)
    with pytest.raises(
        DataError, match=r"label\.lst:8: .*far\.jpg: face box .* lies outside"
    ) as err:
        source = ExpW(release, image_size=8, channels=1)
        for split in source.available_splits():
            source.load(split)
    assert "\n" not in str(err.value)
    source = ExpW(release, image_size=8, channels=1, on_bad_sample="skip")
    loaded = [source.load(s) for s in source.available_splits()]
    assert sum(d.skipped for d in loaded) == 1
    for data in loaded:
        check_faces(data)


def test_unknown_ids_and_malformed_lines_name_file_and_line(tmp_path: Path) -> None:
    faces = [*one_face_per_class(), ("odd.jpg", 0, (1, 1, 9, 9), 50.0, 7)]
    release = expw_release(tmp_path / "expw", faces)
    with pytest.raises(DataError, match=r"label\.lst:8: unknown label id '7' \(expw ids: 0 angry"):
        ExpW(release, image_size=8, channels=1).load("train")
    labels = release / "label" / "label.lst"
    with labels.open("a") as fh:
        fh.write("short.jpg 0 1 2 3\n")
        fh.write("flat.jpg 0 10 10 10 20 5.0 1\n")
        fh.write("text.jpg 0 1 2 x 4 5.0 1\n")
    data = ExpW(release, image_size=8, channels=1, on_bad_sample="skip").load("train")
    assert data.unassigned == 4
    reasons = " | ".join(data.skip_reasons)
    assert "label.lst:9: expected 8 fields" in reasons
    assert "label.lst:10: face box top 10 left 10 right 10 bottom 20 has no area" in reasons
    assert "label.lst:11: face box or confidence is not numeric" in reasons
    check_faces(data, Counter(range(7)))


def test_missing_photo_names_the_line(tmp_path: Path) -> None:
    release = expw_release(tmp_path / "expw", one_face_per_class())
    (release / "image" / "origin" / "single_3.jpg").unlink()
    with pytest.raises(DataError, match=r"label\.lst:4: image not found: .*single_3\.jpg"):
        ExpW(release, image_size=8, channels=1).load("train")


def test_min_confidence_leaves_faces_out_and_counts_them(tmp_path: Path) -> None:
    faces = [
        *one_face_per_class(),
        ("dim.jpg", 0, (2, 2, 20, 20), 0.5, 1),
        ("dim.jpg", 1, (2, 30, 50, 20), 9.99, 2),
        ("bright.jpg", 0, (2, 2, 20, 20), 10.0, 4),
    ]
    release = expw_release(tmp_path / "expw", faces)
    everything = ExpW(release, image_size=8, channels=1)
    assert "left_out" not in everything.describe()
    check_faces(everything.load("train"), Counter([*range(7), 1, 2, 4]))
    filtered = ExpW(release, image_size=8, channels=1, min_confidence=10)
    check_faces(filtered.load("train"), Counter([*range(7), 4]))
    assert filtered.describe()["left_out"] == {"face box confidence below 10": 2}
    with pytest.raises(ConfigError, match="min_confidence"):
        ExpW(release, min_confidence="high")  # type: ignore[arg-type]


def test_repeated_lines_count_once_and_conflicts_are_named(tmp_path: Path) -> None:
    faces = [*one_face_per_class(), one_face_per_class()[2]]
    release = expw_release(tmp_path / "expw", faces)
    source = ExpW(release, image_size=8, channels=1)
    check_faces(source.load("train"), Counter(range(7)))
    assert source.describe()["left_out"] == {"line repeated word for word": 1}
    labels = release / "label" / "label.lst"
    lines = labels.read_text().splitlines()
    lines[-1] = lines[2][: -len("2")] + "3"  # line 3's face again, labelled happy
    labels.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError,
        match=r"label\.lst:8: single_2\.jpg#0: labels it 'happy', conflicting with 'fear' at .*:3",
    ):
        ExpW(release, image_size=8, channels=1).load("train")


def split_faces() -> list[Face]:
    """10 faces per class, two per photo (different classes side by side)."""
    faces: list[Face] = []
    for n in range(35):
        left, right = (2 * n) % 7, (2 * n + 1) % 7
        image = f"crowd_{n:03d}.jpg"
        faces.append((image, 0, (3, 2, 25, 30), 30.0 + n, left))
        faces.append((image, 1, (8, 33, 58, 36), 60.0 - n, right))
    return faces


def test_fixed_split_is_stratified_repeatable_and_independent_of_line_order(
    tmp_path: Path,
) -> None:
    faces = split_faces()
    first = ExpW(expw_release(tmp_path / "a", faces), image_size=8, channels=1)
    again = ExpW(tmp_path / "a", image_size=8, channels=1)
    shuffled = ExpW(expw_release(tmp_path / "b", faces[::-1]), image_size=8, channels=1)
    assert first.available_splits() == ("train", "val", "test")
    per_class = {"train": 8, "val": 1, "test": 1}
    for split, count in per_class.items():
        data = first.load(split)
        check_faces(data, Counter({label: count for label in range(7)}))
        same = again.load(split)
        assert np.array_equal(same.images, data.images)
        assert np.array_equal(same.labels, data.labels)
        other = shuffled.load(split)
        assert sorted(other.labels.tolist()) == sorted(data.labels.tolist())
    described = [s.describe() for s in (first, again, shuffled)]
    assert described[0]["split"].startswith("fixed: train 80 % / val 10 % / test 10 %")
    assert len({d["split_digest"] for d in described}) == 1
    files = [Path(d["split_file"]).read_text() for d in described]
    assert files[0] == files[1] == files[2]
    assert files[0].count("\n") == 70 and "crowd_000.jpg#1" in files[0]


def test_photos_unpacked_one_folder_deeper_are_found(tmp_path: Path) -> None:
    release = expw_release(tmp_path / "expw", one_face_per_class(), "image/origin/origin")
    check_faces(ExpW(release, image_size=8, channels=1).load("train"), Counter(range(7)))


def test_the_expw_config_builds_a_data_module(tmp_path: Path) -> None:
    expw_release(tmp_path / "expw" / "ExpW", split_faces())  # the share's own top folder
    cfg = compose_config(
        "train", ["data=expw", f"paths.data_dir={tmp_path}", "data.source.min_confidence=0"]
    )
    dm = instantiate(cfg.data)
    assert dm.source.min_confidence == 0.0
    dm.setup()
    assert dm.classes == BASIC7
    assert {s: len(dm.splits[s]) for s in ("train", "val", "test")} == {
        "train": 56,
        "val": 7,
        "test": 7,
    }
    assert dm.describe()["release"] == str(tmp_path / "expw" / "ExpW" / "data")
