"""The data set catalogue builds the right reader for each real set, with canonical labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra.utils import instantiate
from PIL import Image

from emotion_lab.config import CONFIG_DIR, compose_config
from emotion_lab.data.catalog import BASIC7, DATASETS, MIKELS8, dataset_info, dataset_source
from emotion_lab.data.errors import DatasetNotFoundError
from emotion_lab.data.formats import AnnotationFile, Fer2013Csv, ImageFolders

# how each set names its class folders on disk, in the order of its canonical classes
SHIPPED_FOLDERS = {
    "fer2013": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    "rafdb": ["6", "3", "2", "4", "5", "1", "7"],
    "affectnet7": ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    "expw": ["0", "1", "2", "3", "4", "5", "6"],
    "face_expression": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    "caers": ["Anger", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"],
    "fi8": list(MIKELS8),
    "emoset118k": list(MIKELS8),
    "webemo": ["sad", "not_sad"],
}
SPLIT_FOLDERS = {"face_expression": ("train", "validation"), "caers": ("train", "test")}


def tiny_image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 6), value, dtype=np.uint8)).save(path)


def folder_tree(root: Path, name: str) -> None:
    """One image per class and split; its grey value encodes the canonical label."""
    for split in SPLIT_FOLDERS.get(name, ("train", "test")):
        for label, folder in enumerate(SHIPPED_FOLDERS[name]):
            tiny_image(root / split / folder / f"{split}_{label}.png", 10 * label)


def test_catalogue_covers_the_papers_sets() -> None:
    assert set(DATASETS) == set(SHIPPED_FOLDERS)
    for name, info in DATASETS.items():
        assert info.name == name and info.hint and "{dir}" in info.hint
        assert len(info.classes) == len(SHIPPED_FOLDERS[name])
    assert DATASETS["caers"].classes == BASIC7
    assert BASIC7 == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.mark.parametrize("name", sorted(SHIPPED_FOLDERS))
def test_every_set_reads_its_shipped_folder_layout_into_canonical_labels(
    tmp_path: Path, name: str
) -> None:
    info = DATASETS[name]
    folder_tree(tmp_path / info.subdir, name)  # fer2013: the image-folder version; CSV below
    source = dataset_source(name, tmp_path, image_size=6, channels=1)
    assert isinstance(source, ImageFolders)
    assert source.classes == info.classes
    for split in source.available_splits():
        data = source.load(split)
        # the pixel value says which canonical class the folder must map to
        np.testing.assert_array_equal(data.labels * 10, data.images[:, 0, 0, 0])
        assert sorted(data.labels.tolist()) == list(range(len(info.classes)))


def test_rafdb_numbered_folders(tmp_path: Path) -> None:
    expected = {"1": "surprise", "2": "fear", "3": "disgust", "4": "happy"}
    expected |= {"5": "sad", "6": "angry", "7": "neutral"}
    for folder in expected:
        tiny_image(tmp_path / "rafdb/train" / folder / "x.png", int(folder))
    data = dataset_source("rafdb", tmp_path).load("train")
    got = {
        str(int(img[0, 0, 0])): data.classes[y]
        for img, y in zip(data.images, data.labels, strict=True)
    }
    assert got == expected


def test_fer2013_csv_and_missing_set_hint(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="Kaggle") as err:
        dataset_source("fer2013", tmp_path)
    assert str(tmp_path / "fer2013" / "fer2013.csv") in str(err.value)
    (tmp_path / "fer2013").mkdir()
    face = " ".join(["9"] * 2304)
    (tmp_path / "fer2013/fer2013.csv").write_text(
        f"emotion,pixels,Usage\n3,{face},Training\n6,{face},PrivateTest\n"
    )
    source = dataset_source("fer2013", tmp_path)
    assert isinstance(source, Fer2013Csv)
    assert source.available_splits() == ("train", "test")
    assert source.load("test").labels.tolist() == [6]


def test_affectnet_leaves_contempt_out(tmp_path: Path) -> None:
    folder_tree(tmp_path / "affectnet7", "affectnet7")
    tiny_image(tmp_path / "affectnet7/train/contempt/x.png", 255)
    data = dataset_source("affectnet7", tmp_path).load("train")
    assert len(data.labels) == 7 and 255 not in data.images


@pytest.mark.parametrize("name", ["fi8", "emoset118k"])
def test_mikels_sets_prefer_an_annotation_file(tmp_path: Path, name: str) -> None:
    root = tmp_path / name
    tiny_image(root / "image/awe/a.png", 1)
    tiny_image(root / "image/fear/b.png", 2)
    (root / "annotations.csv").write_text(
        "path,label,split\nimage/awe/a.png,awe,train\nimage/fear/b.png,fear,test\n"
    )
    source = dataset_source(name, tmp_path, image_size=6)
    assert isinstance(source, AnnotationFile)
    assert source.classes == MIKELS8
    assert source.load("train").labels.tolist() == [MIKELS8.index("awe")]
    assert source.load("test").labels.tolist() == [MIKELS8.index("fear")]


def test_missing_folder_set_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="RAF-DB"):
        dataset_source("rafdb", tmp_path)
    with pytest.raises(ValueError, match="unknown data set 'raf'; known: affectnet7, caers"):
        dataset_info("raf")
    with pytest.raises(ValueError, match="known: .*webemo"):
        dataset_source("fer2014", tmp_path)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_set_config_names_only_itself_and_the_catalogue_does_the_rest(
    tmp_path: Path, name: str
) -> None:
    own = yaml.safe_load((CONFIG_DIR / "data" / f"{name}.yaml").read_text())
    assert own == {"defaults": ["catalog", "_self_"], "name": name}
    cfg = compose_config("train", [f"data={name}", f"paths.data_dir={tmp_path}"])
    assert cfg.data.root == str(DATASETS[name].directory(tmp_path))
    folder_tree(tmp_path / DATASETS[name].subdir, name)
    source = instantiate(cfg.data.source)(image_size=6, channels=1)
    assert source.classes == DATASETS[name].classes


def test_any_catalogue_set_by_name(tmp_path: Path) -> None:
    cfg = compose_config("train", ["data=catalog", "data.name=caers", f"paths.data_dir={tmp_path}"])
    assert (cfg.data.root, cfg.data.source.name) == (str(tmp_path / "caers"), "caers")
