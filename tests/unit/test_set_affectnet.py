"""AffectNet read from imitations of both official releases: ids 0-10 by the release's table
(7 kept or left out by protocol, 8-10 always left out and counted), faces cropped by their
boxes, the newer release's .npy labels, and the choice between releases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.sets import BASIC7, BASIC8
from emotion_lab.data.sets.affectnet import AffectNet7, AffectNet8
from emotion_lab.errors import ConfigError

HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
    "expression,valence,arousal"
)
# the release's id → its class name (8-10 are no class)
AFFECTNET = {
    0: "neutral",
    1: "happy",
    2: "sad",
    3: "surprise",
    4: "fear",
    5: "disgust",
    6: "angry",
    7: "contempt",
}
BACKGROUND = 5


def grey(affectnet_id: int) -> int:
    """The grey level of a face whose release id is ``affectnet_id``."""
    return 20 + 20 * affectnet_id


def class_grey(classes: tuple[str, ...]) -> dict[int, int]:
    """Canonical label → the grey level its faces were written with."""
    by_name = {name: grey(i) for i, name in AFFECTNET.items()}
    return {label: by_name[name] for label, name in enumerate(classes)}


def photo(path: Path, box: tuple[int, int, int, int], value: int, size=(48, 40)) -> None:
    """A dark photo (``size`` = width, height) with the face (x, y, w, h) at ``value``."""
    x, y, w, h = box
    pixels = np.full((size[1], size[0]), BACKGROUND, dtype=np.uint8)
    pixels[max(y, 0) : y + h, max(x, 0) : x + w] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")  # lossless, under the release's .jpg name


def csv_row(image: str, box: tuple[int, int, int, int], expression: int | str) -> str:
    landmarks = ";".join(f"{v:.2f}" for v in np.linspace(1, 40, 136))
    x, y, w, h = box
    return f"{image},{x},{y},{w},{h},{landmarks},{expression},0.5,-0.25"


def csv_release(
    root: Path,
    train_ids: list[int],
    test_ids: list[int],
    images: str = "Manually_Annotated_compressed/Manually_Annotated_Images",
    extra_train: list[str] | None = None,
) -> Path:
    """The original release: both lists with their header and one photo per row, the face at
    a box that moves with the row, its grey level encoding the release id."""
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True, exist_ok=True)
    for name, ids in (("training.csv", train_ids), ("validation.csv", test_ids)):
        lines = [HEADER]
        for n, expression in enumerate(ids):
            image = f"{100 + n % 3}/{name[:5]}{n:04d}abc.jpg"
            box = (2 + n % 5, 3 + n % 4, 14 + n % 7, 18 - n % 3)
            photo(root / images / image, box, grey(expression))
            lines.append(csv_row(image, box, expression))
        if name == "training.csv":
            lines += extra_train or []
        (lists / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def npy_release(root: Path, train: dict[int, object], test: dict[int, object]) -> Path:
    """The newer release: ``<n>.jpg`` faces (already cropped, grey = id) and ``<n>_exp.npy``
    holding the id as given (a string like the release's, or an int)."""
    for folder, labels in (("train_set", train), ("val_set", test)):
        (root / folder / "annotations").mkdir(parents=True, exist_ok=True)
        (root / folder / "images").mkdir(parents=True, exist_ok=True)
        for n, value in labels.items():
            face = np.full((12, 10), grey(int(str(value))), dtype=np.uint8)
            Image.fromarray(face).save(root / folder / "images" / f"{n}.jpg", format="PNG")
            np.save(root / folder / "annotations" / f"{n}_exp.npy", np.array(value))
            np.save(root / folder / "annotations" / f"{n}_val.npy", np.array("0.25"))
            np.save(root / folder / "annotations" / f"{n}_aro.npy", np.array("-0.5"))
            np.save(root / folder / "annotations" / f"{n}_lnd.npy", np.zeros(136))
    return root


def check_faces(source, split: str, expected: list[int]) -> None:
    """Every face of ``split`` is uniform at its class's grey (no background in the crop) and
    the classes are those of the rows kept, in order."""
    data = source.load(split)
    greys = class_grey(source.classes)
    assert [source.classes[i] for i in data.labels] == [AFFECTNET[i] for i in expected]
    for image, label in zip(data.images, data.labels, strict=True):
        assert abs(int(image.min()) - greys[int(label)]) <= 1, (split, label)
        assert abs(int(image.max()) - greys[int(label)]) <= 1, (split, label)


def test_csv_release_keeps_the_protocols_ids_crops_faces_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    root = csv_release(tmp_path / "affectnet", list(range(11)) + [1, 6], [0, 3, 7, 8, 5])
    seven = AffectNet7(root, image_size=8, channels=1)
    assert seven.classes == BASIC7 and seven.available_splits() == ("train", "test")
    check_faces(seven, "train", [0, 1, 2, 3, 4, 5, 6, 1, 6])
    check_faces(seven, "test", [0, 3, 5])
    left_out = seven.describe()["left_out"]
    assert left_out == {
        "id 7 (not in the 7-class protocol)": 2,
        "id 8 (not in the 7-class protocol)": 2,
        "id 9 (not in the 7-class protocol)": 1,
        "id 10 (not in the 7-class protocol)": 1,
    }
    assert seven.describe()["ids"]["7"] == "(left out)"
    assert seven.describe()["release_format"].startswith("original")

    eight = AffectNet8(root, image_size=8, channels=1)
    assert eight.classes == BASIC8
    check_faces(eight, "train", [0, 1, 2, 3, 4, 5, 6, 7, 1, 6])
    check_faces(eight, "test", [0, 3, 7, 5])
    assert sum(eight.describe()["left_out"].values()) == 4  # 8, 9, 10 in train; 8 in test
    assert "contempt" in eight.classes and "contempt" not in seven.classes


def test_csv_boxes_are_x_y_width_height(tmp_path: Path) -> None:
    """Unscaled crops: each is the face's width × height wherever the face sits."""
    root = tmp_path / "affectnet"
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    rows = [HEADER]
    for n, (x, y) in enumerate([(3, 20), (25, 2), (30, 15)]):
        photo(root / "Manually_Annotated_Images" / "1" / f"{n}.jpg", (x, y, 11, 7), grey(n))
        rows.append(csv_row(f"1/{n}.jpg", (x, y, 11, 7), n))
    (lists / "training.csv").write_text("\n".join(rows) + "\n")
    data = AffectNet7(root, channels=1).load("train")
    assert data.images.shape == (3, 7, 11, 1)
    assert [int(v) for v in data.images.reshape(3, -1).min(1)] == [grey(0), grey(1), grey(2)]
    assert [int(v) for v in data.images.reshape(3, -1).max(1)] == [grey(0), grey(1), grey(2)]


def test_csv_release_under_its_other_image_folders_and_a_top_folder(tmp_path: Path) -> None:
    root = tmp_path / "affectnet"
    csv_release(root / "AffectNet", [0, 1, 2], [3], images="Manually_Annotated_Images")
    source = AffectNet7(root, image_size=8, channels=1)
    assert source.release == root / "AffectNet"
    check_faces(source, "train", [0, 1, 2])


def test_csv_validation_list_without_header_and_a_box_partly_outside(tmp_path: Path) -> None:
    root = csv_release(tmp_path / "affectnet", [0, 1], [])
    lists = root / "Manually_Annotated_file_lists"
    images = root / "Manually_Annotated_compressed" / "Manually_Annotated_Images"
    # the face sits in the photo's corner; its box runs past the top-left edge: clipped
    photo(images / "7" / "corner.jpg", (0, 0, 9, 9), grey(4))
    (lists / "validation.csv").write_text(csv_row("7/corner.jpg", (-6, -3, 15, 12), 4) + "\n")
    source = AffectNet7(root, image_size=8, channels=1)
    check_faces(source, "test", [4])


def test_unknown_id_bad_rows_and_missing_images_name_file_and_line(tmp_path: Path) -> None:
    root = csv_release(
        tmp_path / "affectnet", [0, 1, 2], [3], extra_train=[csv_row("1/x.jpg", (1, 1, 9, 9), 11)]
    )
    training = root / "Manually_Annotated_file_lists" / "training.csv"
    with pytest.raises(DataError, match=r"training\.csv:5: unknown label id '11'") as err:
        AffectNet7(root, image_size=8, channels=1).load("train")
    assert "\n" not in str(err.value)
    skipping = AffectNet7(root, image_size=8, channels=1, on_bad_sample="skip")
    data = skipping.load("train")
    assert len(data.labels) == 3
    assert data.skipped == 1 and "training.csv:5" in data.skip_reasons[0]

    lines = training.read_text().splitlines()
    lines[-1] = csv_row("1/gone.jpg", (1, 1, 9, 9), 2)
    lines.append("1/short.jpg,1,2,3")
    lines.append(csv_row("1/flat.jpg", (1, 1, 0, 9), 2))
    training.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"training\.csv:6: expected 9 comma-separated fields"):
        AffectNet7(root, image_size=8, channels=1).load("train")
    data = AffectNet7(root, image_size=8, channels=1, on_bad_sample="skip").load("train")
    assert len(data.labels) == 3 and data.skipped == 3
    assert any("training.csv:5: image not found" in r for r in data.skip_reasons)
    assert any("training.csv:7: face box 1,1,0,9 has no area" in r for r in data.skip_reasons)
    lines.pop()
    lines.pop()
    training.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"training\.csv:5: image not found: .*gone\.jpg"):
        AffectNet7(root, image_size=8, channels=1).load("train")


def test_npy_release_reads_string_and_int_ids_and_refuses_pickles(tmp_path: Path) -> None:
    train = {0: "0", 1: "1", 2: "2", 3: 3, 4: "4", 5: np.int64(5), 6: "6", 7: "7", 12: "1"}
    root = npy_release(tmp_path / "affectnet", train, {20: "6", 21: "0", 22: "7"})
    seven = AffectNet7(root, image_size=8, channels=1)
    check_faces(seven, "train", [0, 1, 2, 3, 4, 5, 6, 1])
    check_faces(seven, "test", [6, 0])
    assert seven.describe()["left_out"] == {"id 7 (not in the 7-class protocol)": 2}
    eight = AffectNet8(root, image_size=8, channels=1)
    check_faces(eight, "test", [6, 0, 7])
    assert eight.describe()["release_format"].startswith("newer")

    bad = root / "train_set" / "annotations" / "9_exp.npy"
    np.save(bad, np.array({"expression": 1}, dtype=object), allow_pickle=True)
    Image.new("L", (4, 4)).save(root / "train_set" / "images" / "9.jpg", format="PNG")
    with pytest.raises(DataError, match=r"9_exp\.npy: label file holds Python objects"):
        AffectNet7(root, image_size=8, channels=1).load("train")
    data = AffectNet7(root, image_size=8, channels=1, on_bad_sample="skip").load("train")
    assert data.skipped == 1 and len(data.labels) == 8
    np.save(bad, np.array("12"))
    with pytest.raises(DataError, match=r"9_exp\.npy: unknown label id '12'"):
        AffectNet7(root, image_size=8, channels=1).load("train")


def test_release_option_when_a_folder_holds_both(tmp_path: Path) -> None:
    root = csv_release(tmp_path / "affectnet", [0, 1], [2])
    npy_release(root, {0: "3", 1: "4"}, {2: "5"})
    with pytest.raises(DataError, match="both AffectNet releases") as err:
        AffectNet7(root, image_size=8, channels=1)
    assert "Manually_Annotated_file_lists" in str(err.value) and "train_set" in str(err.value)
    check_faces(AffectNet7(root, image_size=8, channels=1, release="csv"), "train", [0, 1])
    check_faces(AffectNet7(root, image_size=8, channels=1, release="npy"), "train", [3, 4])
    with pytest.raises(ConfigError, match="release must be one of auto, csv, npy"):
        AffectNet7(root, release="zip")
    with pytest.raises(DatasetNotFoundError, match="mohammadmahoor"):
        AffectNet7(tmp_path / "nothing")


@pytest.mark.parametrize("name", ["affectnet7", "affectnet8"])
def test_the_affectnet_configs_build_a_data_module(tmp_path: Path, name: str) -> None:
    ids = [i % 8 for i in range(48)] + [8, 9, 10]
    csv_release(tmp_path / "affectnet", ids, list(range(8)))
    cfg = compose_config("train", [f"data={name}", f"paths.data_dir={tmp_path}"])
    dm = instantiate(cfg.data)
    dm.setup()
    kept = 7 if name == "affectnet7" else 8
    assert dm.classes == (BASIC7 if kept == 7 else BASIC8)
    assert len(dm.splits["test"]) == kept
    assert len(dm.splits["train"]) + len(dm.splits["val"]) == 6 * kept
    assert dm.describe()["release"] == str(tmp_path / "affectnet")
