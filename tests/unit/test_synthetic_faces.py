"""The generated FER2013 stand-in: determinism, class mix, label noise, files on disk, API errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lab.data import synthetic_faces as sf
from emotion_lab.data.synthetic_faces import (
    CLASSES,
    FER2013_CLASS_COUNTS,
    SyntheticFer2013,
    export_image_folders,
    generate_faces,
    render_faces,
    sample_labels,
    save_sample_grid,
    split_assignment,
    write_fer2013_csv,
    writers,
)

N = 700
# No pose, photometric or occlusion nuisance: only identity and expression vary.
CLEAN = dict(
    rotation_deg=0.0,
    scale=(1.0, 1.0),
    shift_px=0.0,
    yaw=0.0,
    noise=(0.0, 0.0),
    blur=0.0,
    occlusion=0.0,
    lighting=0.0,
    leak_prob=0.0,
    intensity=(1.0, 1.0),
)


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return generate_faces(N, seed=3)


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fer2013_csv(
        tmp_path_factory.mktemp("csv") / "faces.csv", N, seed=3, progress=False
    )


def _read_csv(path: Path) -> list[tuple[int, np.ndarray, str]]:
    lines = path.read_text().splitlines()
    assert lines[0] == "emotion,pixels,Usage"
    rows = []
    for line in lines[1:]:
        label, pixels, usage = line.split(",")
        rows.append((int(label), np.array(pixels.split(), dtype=np.int64), usage))
    return rows


def test_shapes_and_dtypes(faces: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    images, noisy, clean = faces
    assert images.shape == (N, 48, 48) and images.dtype == np.uint8
    assert noisy.shape == clean.shape == (N,)
    assert noisy.dtype == clean.dtype == np.int64
    assert set(np.unique(clean)) == set(range(len(CLASSES)))
    # real pictures, not a constant or saturated canvas
    assert 40 < images.mean() < 215 and images.std(axis=(1, 2)).min() > 5


def test_same_seed_is_byte_identical_and_seeds_differ(
    faces: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    again = generate_faces(N, seed=3)
    for a, b in zip(faces, again, strict=True):
        assert a.tobytes() == b.tobytes()
    other, other_noisy, _ = generate_faces(N, seed=4)
    assert np.mean(other != faces[0]) > 0.5
    assert not np.array_equal(other_noisy, faces[1])


def test_labels_match_sample_labels(faces: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    noisy, clean = sample_labels(N, seed=3)
    np.testing.assert_array_equal(noisy, faces[1])
    np.testing.assert_array_equal(clean, faces[2])


def test_class_frequencies_follow_fer2013() -> None:
    _, clean = sample_labels(6000, seed=0)
    share = np.bincount(clean, minlength=len(CLASSES)) / 6000
    total = sum(FER2013_CLASS_COUNTS.values())
    for i, name in enumerate(CLASSES):
        assert abs(share[i] - FER2013_CLASS_COUNTS[name] / total) < 0.002, name
    assert abs(share[CLASSES.index("happy")] - 0.25) < 0.03
    assert 0 < share[CLASSES.index("disgust")] < 0.03
    assert share.argmax() == CLASSES.index("happy")


@pytest.mark.parametrize("label_noise", [0.0, 0.05, 0.2])
def test_label_noise_share(label_noise: float) -> None:
    noisy, clean = sample_labels(2000, seed=1, label_noise=label_noise)
    flipped = noisy != clean
    assert flipped.sum() == round(label_noise * 2000)
    assert noisy.min() >= 0 and noisy.max() < len(CLASSES)
    if label_noise:  # flips go to every other class, not to one favourite
        assert len(np.unique(noisy[flipped])) == len(CLASSES)


def test_expressions_change_the_face_where_the_action_units_act() -> None:
    """Same identities (same seed), different labels: only the AU-driven features may move."""
    k = 40
    means = {
        name: render_faces(np.full(k, i), seed=5, **CLEAN).astype(np.float64).mean(axis=0)
        for i, name in enumerate(CLASSES)
    }
    upper, lower = slice(8, 24), slice(28, 46)  # brows/eyes and mouth/chin rows

    def change(a: str, b: str, rows: slice) -> float:
        return float(np.abs(means[a] - means[b])[rows].mean())

    for i, a in enumerate(CLASSES):
        for b in CLASSES[i + 1 :]:
            assert np.abs(means[a] - means[b]).mean() > 0.3, (a, b)
    # a smile is a mouth thing, brows are what separates surprise and anger from neutral
    assert change("happy", "neutral", lower) > 2 * change("happy", "neutral", upper)
    assert change("surprise", "neutral", upper) > 1.0
    assert change("angry", "neutral", upper) > 1.0
    assert change("surprise", "neutral", lower) > 1.0  # dropped jaw


def test_class_means_differ_at_default_difficulty(
    faces: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    images, _, clean = faces
    happy = images[clean == CLASSES.index("happy")].astype(np.float64).mean(axis=0)
    surprise = images[clean == CLASSES.index("surprise")].astype(np.float64).mean(axis=0)
    assert np.abs(happy - surprise).max() > 10


def test_difficulty_knobs_change_the_images() -> None:
    labels = np.arange(14) % len(CLASSES)
    base = render_faces(labels, seed=2, **CLEAN).astype(np.int64)
    noisy = render_faces(labels, seed=2, **{**CLEAN, "noise": (0.1, 0.1)}).astype(np.int64)
    # the same faces underneath, with σ = 0.1·255 of noise on top
    assert 15 < (noisy - base).std() < 35
    rotated = render_faces(labels, seed=2, **{**CLEAN, "rotation_deg": 30.0})
    assert np.mean(rotated != base) > 0.2


def test_csv_round_trip(csv_file: Path, faces: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    rows = _read_csv(csv_file)
    assert len(rows) == N
    assert all(len(p) == 2304 and p.min() >= 0 and p.max() <= 255 for _, p, _ in rows)
    usages = [u for _, _, u in rows]
    assert set(usages) == {"Training", "PublicTest", "PrivateTest"}
    # FER2013's own order: all Training rows, then PublicTest, then PrivateTest
    assert usages == sorted(usages, key=["Training", "PublicTest", "PrivateTest"].index)
    for usage, share in (("Training", 0.8), ("PublicTest", 0.1), ("PrivateTest", 0.1)):
        assert abs(usages.count(usage) / N - share) < 0.02
    images, noisy, _ = faces
    order = np.argsort(split_assignment(noisy, (0.8, 0.1, 0.1), 3), kind="stable")
    np.testing.assert_array_equal(np.stack([p for _, p, _ in rows]), images[order].reshape(N, -1))
    np.testing.assert_array_equal([label for label, _, _ in rows], noisy[order])
    assert not [p for p in csv_file.parent.iterdir() if p.name.startswith(".")]  # no temp files


def test_split_is_stratified() -> None:
    noisy, _ = sample_labels(3000, seed=0)
    split = split_assignment(noisy, (0.8, 0.1, 0.1), 0)
    for cls in range(len(CLASSES)):
        in_class = split[noisy == cls]
        assert abs(np.mean(in_class == 0) - 0.8) < 0.05
    np.testing.assert_array_equal(split, split_assignment(noisy, (0.8, 0.1, 0.1), 0))


def test_interrupted_csv_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "faces.csv"
    target.write_text("previous complete file\n")
    written = []

    def failing_row(label: int, pixels: np.ndarray, usage: str) -> str:
        if len(written) == 50:
            raise KeyboardInterrupt
        written.append(label)
        return f"{label},{' '.join(map(str, pixels.tolist()))},{usage}\n"

    monkeypatch.setattr(writers, "_csv_row", failing_row)
    with pytest.raises(KeyboardInterrupt):
        write_fer2013_csv(target, 200, seed=0, progress=False)
    assert target.read_text() == "previous complete file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.csv"]


def test_export_image_folders(tmp_path: Path, csv_file: Path) -> None:
    root = export_image_folders(csv_file, tmp_path / "folders")
    assert sorted(p.name for p in root.iterdir()) == ["test", "train", "val"]
    rows = _read_csv(csv_file)
    usage_to_split = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(CLASSES)
        expected = [r for r in rows if usage_to_split[r[2]] == split]
        pngs = sorted((root / split).glob("*/*.png"))
        assert len(pngs) == len(expected)
        for cls in CLASSES:  # every label went to its class folder
            n_cls = sum(1 for label, _, _ in expected if CLASSES[label] == cls)
            assert len(list((root / split / cls).glob("*.png"))) == n_cls
    first_label, first_pixels, _ = rows[0]
    with Image.open(root / "train" / CLASSES[first_label] / "00000.png") as img:
        assert img.mode == "L" and img.size == (48, 48)
        np.testing.assert_array_equal(np.asarray(img).ravel(), first_pixels)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp dir renamed
    with pytest.raises(FileExistsError, match="folders"):
        export_image_folders(csv_file, root)


def test_sample_grid_and_cli(tmp_path: Path) -> None:
    grid = save_sample_grid(tmp_path / "grid.png", per_class=3, seed=1)
    with Image.open(grid) as img:
        assert img.format == "PNG" and img.size[0] > 200 and img.size[1] > 400
    sf.main(["--out", str(tmp_path / "data"), "--n", "300", "--seed", "2", "--folders",
             str(tmp_path / "folders")])  # fmt: skip
    csv_path = tmp_path / "data" / f"synthetic_fer2013_v{sf.GENERATOR_VERSION}_n300_s2_ln0.05.csv"
    assert len(_read_csv(csv_path)) == 300
    assert len(list((tmp_path / "folders").glob("*/*/*.png"))) == 300
    with pytest.raises(SystemExit):
        sf.main(["--out", str(tmp_path / "bad"), "--n", "0"])


def test_package_runs_as_a_module(tmp_path: Path) -> None:
    """``python -m emotion_lab.data.synthetic_faces``, the command the README gives."""
    done = subprocess.run(
        [sys.executable, "-m", "emotion_lab.data.synthetic_faces", "--out", str(tmp_path),
         "--n", "20"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / sf.csv_filename(20, 0, 0.05)).is_file()


def test_synthetic_source_generates_once_and_reads_back_through_fer2013_loader(
    tmp_path: Path,
) -> None:
    source = SyntheticFer2013(tmp_path, n=N, seed=3)
    csv_path = tmp_path / f"synthetic_fer2013_v{sf.GENERATOR_VERSION}_n700_s3_ln0.05.csv"
    assert source.classes == CLASSES
    assert not csv_path.exists()  # lazily, on first use
    assert source.available_splits() == ("train", "val", "test")
    assert csv_path.is_file()
    train = source.load("train")
    assert train.images.shape[1:] == (48, 48, 1) and train.images.dtype == np.uint8
    assert train.classes == CLASSES
    sizes = {s: len(source.load(s).labels) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == N and abs(sizes["train"] / N - 0.8) < 0.02
    # a second source over the same root reuses the file instead of generating again
    stamp = csv_path.stat().st_mtime_ns
    again = SyntheticFer2013(tmp_path, n=N, seed=3)
    np.testing.assert_array_equal(again.load("train").labels, train.labels)
    assert csv_path.stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: generate_faces(0), "n must"),
        (lambda: generate_faces(-5), "n must"),
        (lambda: generate_faces(10, label_noise=1.0), "label_noise"),
        (lambda: generate_faces(10, label_noise=-0.1), "label_noise"),
        (lambda: generate_faces(10, wobble=3), "unknown difficulty key 'wobble'"),
        (lambda: generate_faces(10, noise=(0.2, 0.1)), "noise"),
        (lambda: generate_faces(10, intensity=(0.5, 1.5)), "intensity"),
        (lambda: generate_faces(10, occlusion=2.0), "occlusion"),
        (lambda: generate_faces(10, scale=1.0), "scale"),
        (
            lambda: write_fer2013_csv("x.csv", 10, split_fractions=(0.5, 0.3, 0.3)),
            "split_fractions",
        ),
        (lambda: SyntheticFer2013("x", n=0), "n must"),
        (lambda: SyntheticFer2013("x", on_bad_sample="ignore"), "on_bad_sample"),
        (lambda: save_sample_grid("x.png", per_class=0), "per_class"),
        (lambda: render_faces(np.array([0, 7])), "labels"),
    ],
)
def test_invalid_arguments_raise(call, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_12000_faces_render_within_20_cpu_seconds() -> None:
    start = time.process_time()
    images, _, _ = generate_faces(12000, seed=0)
    assert images.shape == (12000, 48, 48)
    assert time.process_time() - start < 20.0
