"""The real data sets the papers use: class lists, on-disk layout and how to get each one.

Every set lives in ``<data_dir>/<subdir>``. Labels always follow one canonical class order per
family (the 7 basic expressions in FER2013 order; Mikels' 8 emotions alphabetically), and
``folder_aliases`` map each set's own folder names onto it, so a model trained on one set reads
the same label indices as another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from emotion_lab.data.formats.annotations import AnnotationFile
from emotion_lab.data.formats.base import DataSource
from emotion_lab.data.formats.fer2013_csv import FER2013_CLASSES, Fer2013Csv
from emotion_lab.data.formats.folders import ImageFolders, resolve_split_dirs
from emotion_lab.errors import ConfigError

BASIC7: tuple[str, ...] = FER2013_CLASSES
"""angry, disgust, fear, happy, sad, surprise, neutral — label 0-6 on every facial set."""

MIKELS8: tuple[str, ...] = (
    "amusement",
    "anger",
    "awe",
    "contentment",
    "disgust",
    "excitement",
    "fear",
    "sadness",
)
SADNESS2: tuple[str, ...] = ("sad", "not_sad")

Format = Literal["fer2013_csv", "folders", "folders_or_annotations"]

# Spellings of the basic expressions found in the wild; matching is case-insensitive, so
# CAER-S's ``Anger`` or AffectNet's ``Happy`` need no entry of their own.
_BASIC_NAMES: dict[str, str] = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
}


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogue entry; ``hint`` may use ``{dir}``, the folder the set is expected in."""

    name: str
    classes: tuple[str, ...]
    format: Format
    subdir: str
    hint: str
    folder_aliases: dict[str, str] = field(default_factory=dict)
    exclude_folders: tuple[str, ...] = ()
    filename: str | None = None  # the file of single-file formats (FER2013's CSV)

    def directory(self, data_dir: str | Path) -> Path:
        return Path(data_dir) / self.subdir

    def hint_for(self, data_dir: str | Path) -> str:
        return self.hint.format(dir=self.directory(data_dir))


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="fer2013",
            classes=BASIC7,
            format="fer2013_csv",
            subdir="fer2013",
            filename="fer2013.csv",
            hint=(
                "download fer2013.csv from the Kaggle competition 'Challenges in Representation "
                "Learning: Facial Expression Recognition Challenge' and put it at "
                "{dir}/fer2013.csv (or the image-folder version as {dir}/train/<class>/, "
                "{dir}/test/<class>/)"
            ),
            folder_aliases=dict(_BASIC_NAMES),
        ),
        DatasetInfo(
            name="rafdb",
            classes=BASIC7,
            format="folders",
            subdir="rafdb",
            hint=(
                "RAF-DB is given out by its authors on request; put the aligned basic-emotion "
                "images as {dir}/train/<label>/ and {dir}/test/<label>/ with the labels of "
                "EmoLabel/list_patition_label.txt as folder names 1-7 (surprise, fear, disgust, "
                "happiness, sadness, anger, neutral) or as class names"
            ),
            folder_aliases={
                **_BASIC_NAMES,
                "1": "surprise",
                "2": "fear",
                "3": "disgust",
                "4": "happy",
                "5": "sad",
                "6": "angry",
                "7": "neutral",
            },
        ),
        DatasetInfo(
            name="affectnet7",
            classes=BASIC7,
            format="folders",
            subdir="affectnet7",
            hint=(
                "AffectNet is given out by its authors on request; put the manually annotated "
                "images as {dir}/train/<class>/ and {dir}/val/<class>/ (the official validation "
                "set; its test set is not public), class folders named by expression or by "
                "AffectNet id 0-6 (neutral, happy, sad, surprise, fear, disgust, anger); "
                "contempt (7) is left out"
            ),
            folder_aliases={
                **_BASIC_NAMES,
                "0": "neutral",
                "1": "happy",
                "2": "sad",
                "3": "surprise",
                "4": "fear",
                "5": "disgust",
                "6": "angry",
            },
            exclude_folders=("contempt", "7"),
        ),
        DatasetInfo(
            name="expw",
            classes=BASIC7,
            format="folders",
            subdir="expw",
            hint=(
                "ExpW (Expression in-the-Wild) ships whole images plus label/label.lst without "
                "splits; crop the listed faces and put them as {dir}/<split>/<class>/ with "
                "split in train/val/test and class folders named by expression or by ExpW "
                "label 0-6 (angry, disgust, fear, happy, sad, surprise, neutral)"
            ),
            folder_aliases={**_BASIC_NAMES, **{str(i): c for i, c in enumerate(BASIC7)}},
        ),
        DatasetInfo(
            name="face_expression",
            classes=BASIC7,
            format="folders",
            subdir="face_expression",
            hint=(
                "download the Kaggle data set 'Face expression recognition dataset' and move "
                "its images/train and images/validation folders to {dir}/train and "
                "{dir}/validation"
            ),
            folder_aliases=dict(_BASIC_NAMES),
        ),
        DatasetInfo(
            name="caers",
            classes=BASIC7,
            format="folders",
            subdir="caers",
            hint=(
                "CAER-S is given out by its authors (CAER project page); put its train/ and "
                "test/ folders (class folders Anger ... Surprise) in {dir}"
            ),
            folder_aliases=dict(_BASIC_NAMES),
        ),
        DatasetInfo(
            name="fi8",
            classes=MIKELS8,
            format="folders_or_annotations",
            subdir="fi8",
            hint=(
                "FI (You et al., AAAI 2016; 8 emotion folders, no splits): put the images in "
                "{dir} with a split list {dir}/annotations.csv (columns path,label,split; paths "
                "relative to {dir}) or arrange them as {dir}/<split>/<emotion>/"
            ),
        ),
        DatasetInfo(
            name="emoset118k",
            classes=MIKELS8,
            format="folders_or_annotations",
            subdir="emoset118k",
            hint=(
                "EmoSet-118K is given out by its authors on request; put image/ in {dir} and "
                "turn its train/val/test.json lists into {dir}/annotations.csv (columns "
                "path,label,split; paths relative to {dir}), or arrange the images as "
                "{dir}/<split>/<emotion>/"
            ),
        ),
        DatasetInfo(
            name="webemo",
            classes=SADNESS2,
            format="folders",
            subdir="webemo",
            hint=(
                "WEBEmo is given out by its authors; for the binary sadness task put images as "
                "{dir}/<split>/sad/ and {dir}/<split>/not_sad/ with split in train/val/test "
                "(80/10/10)"
            ),
            folder_aliases={"not sad": "not_sad", "not-sad": "not_sad", "notsad": "not_sad"},
        ),
    )
}

ANNOTATION_FILES = ("annotations.csv", "annotations.tsv")
"""Looked for, in this order, in the folder of a ``folders_or_annotations`` set."""


def dataset_info(name: str) -> DatasetInfo:
    """The catalogue entry, or a ValueError listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ConfigError(f"unknown data set {name!r}; known: {known}") from None


def dataset_source(
    name: str,
    data_dir: str | Path,
    image_size: int | None = None,
    channels: int = 3,
    on_bad_sample: str = "error",
    cache_dir: str | Path | None = None,
    decode_workers: int | None = None,
    allow_overlap: bool = False,
) -> DataSource:
    """The reader for catalogue set ``name`` stored under ``<data_dir>/<subdir>``.

    FER2013 is read from its CSV (always 48×48 grey, whatever ``image_size``/``channels`` say:
    the batch transforms adapt it) unless only the image-folder version is there. FI-8 and
    EmoSet use an annotation file when one exists, image folders otherwise.
    """
    info = dataset_info(name)
    root = info.directory(data_dir)
    hint = info.hint_for(data_dir)
    folders = {
        "root": root,
        "image_size": image_size,
        "channels": channels,
        "on_bad_sample": on_bad_sample,
        "classes": info.classes,
        "class_aliases": info.folder_aliases,
        "exclude_folders": info.exclude_folders,
        "hint": hint,
        "cache_dir": cache_dir,
        "decode_workers": decode_workers,
    }
    if info.format == "fer2013_csv":
        csv_path = root / (info.filename or f"{name}.csv")
        if not csv_path.is_file() and root.is_dir() and resolve_split_dirs(root):
            return ImageFolders(**folders)
        return Fer2013Csv(
            csv_path,
            on_bad_sample=on_bad_sample,
            classes=info.classes,
            hint=hint,
            cache_dir=cache_dir,
        )
    if info.format == "folders_or_annotations":
        for filename in ANNOTATION_FILES:
            if (root / filename).is_file():
                return AnnotationFile(
                    root / filename,
                    root=root,
                    image_size=image_size,
                    channels=channels,
                    on_bad_sample=on_bad_sample,
                    classes=info.classes,
                    class_aliases=info.folder_aliases,
                    hint=hint,
                    cache_dir=cache_dir,
                    decode_workers=decode_workers,
                    allow_overlap=allow_overlap,
                )
    return ImageFolders(**folders)
