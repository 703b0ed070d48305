"""CAER-S and Kaggle's face-expression set are read from their class folders as unpacked."""

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
from emotion_lab.data.sets.caers import CaerS
from emotion_lab.data.sets.face_expression import FaceExpression

# each set's folder names, in BASIC7 order (angry disgust fear happy sad surprise neutral)
CAERS = ["Anger", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
FACES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def grey(label: int) -> int:
    return 15 + 35 * label


def write_image(path: Path, label: int, size: int = 12) -> None:
    """A photo whose uniform grey level is its class."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), grey(label), dtype=np.uint8)).save(path)


def write_tree(root: Path, splits: tuple[str, ...], folders: list[str], ext: str) -> None:
    for split in splits:
        for label, folder in enumerate(folders):
            for i in range(3):
                write_image(root / split / folder / f"{i + 1:04d}.{ext}", label)


def check_labels(source: CaerS | FaceExpression, split: str, n: int = 21) -> None:
    data = source.load(split)  # type: ignore[arg-type]
    assert data.classes == BASIC7 and len(data.labels) == n
    for image, label in zip(data.images, data.labels, strict=True):
        assert abs(int(image.mean()) - grey(int(label))) <= 2


def test_caers_in_its_top_folder(tmp_path: Path) -> None:
    write_tree(tmp_path / "caers" / "CAER-S", ("train", "test"), CAERS, "png")
    source = CaerS(tmp_path / "caers", image_size=8, channels=1)
    assert source.release == tmp_path / "caers" / "CAER-S"
    assert source.available_splits() == ("train", "test")
    check_labels(source, "train")
    check_labels(source, "test")
    info = source.describe()
    assert info["ids"]["folder Anger"] == "angry" and "val cut from train" in info["split"]


def test_caers_angry_spelling_and_unknown_folder(tmp_path: Path) -> None:
    write_tree(tmp_path / "caers", ("train", "test"), ["Angry", *CAERS[1:]], "png")
    check_labels(CaerS(tmp_path / "caers", image_size=8, channels=1), "train")
    write_image(tmp_path / "caers" / "train" / "Contempt" / "0001.png", 0)
    with pytest.raises(DataError, match="folder 'Contempt' is not one of the classes"):
        CaerS(tmp_path / "caers", image_size=8, channels=1).load("train")


def test_caers_missing_image_is_skipped_or_named(tmp_path: Path) -> None:
    write_tree(tmp_path / "caers", ("train", "test"), CAERS, "png")
    broken = tmp_path / "caers" / "test" / "Fear" / "0002.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DataError, match="0002.png"):
        CaerS(tmp_path / "caers", image_size=8, channels=1).load("test")
    skipping = CaerS(tmp_path / "caers", image_size=8, channels=1, on_bad_sample="skip")
    data = skipping.load("test")
    assert data.skipped == 1 and len(data.labels) == 20


def test_face_expression_validation_is_val_and_nested_copy_ignored(tmp_path: Path) -> None:
    images = tmp_path / "face_expression" / "images"
    write_tree(images, ("train", "validation"), FACES, "jpg")
    write_tree(images / "images", ("train",), FACES[:2], "jpg")  # the duplicated copy
    source = FaceExpression(tmp_path / "face_expression", image_size=8, channels=1)
    assert source.release == images
    assert source.available_splits() == ("train", "val")
    check_labels(source, "train")
    check_labels(source, "val")
    info = source.describe()
    assert "validation/ → val" in info["split"] and "ignored" in info
    assert info["ids"]["folder happy"] == "happy"


def test_face_expression_only_the_nested_copy(tmp_path: Path) -> None:
    nested = tmp_path / "face_expression" / "images" / "images"
    write_tree(nested, ("train", "validation"), FACES, "jpg")
    source = FaceExpression(tmp_path / "face_expression", image_size=8, channels=1)
    assert source.release == nested
    check_labels(source, "val")


def test_missing_sets_say_where_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="caer-dataset"):
        CaerS(tmp_path / "caers")
    (tmp_path / "face_expression").mkdir()
    with pytest.raises(DatasetNotFoundError, match="jonathanoheix"):
        FaceExpression(tmp_path / "face_expression")


@pytest.mark.parametrize(
    ("name", "kind", "layout"),
    [
        ("caers", CaerS, ("CAER-S", ("train", "test"), CAERS, "png")),
        ("face_expression", FaceExpression, ("images", ("train", "validation"), FACES, "jpg")),
    ],
)
def test_config_composes_and_the_data_module_sets_up(
    tmp_path: Path, name: str, kind: type, layout: tuple
) -> None:
    top, splits, folders, ext = layout
    write_tree(tmp_path / name / top, splits, folders, ext)
    cfg = compose_config(
        "train", [f"data={name}", f"paths.data_dir={tmp_path}", "model.input_size=16"]
    )
    dm = instantiate(cfg.data)
    assert isinstance(dm, EmotionDataModule) and isinstance(dm.source, kind)
    dm.setup()
    assert dm.classes == BASIC7 and len(dm.splits["train"]) + len(dm.splits["val"]) >= 21
    assert dm.describe()["set"] == name
