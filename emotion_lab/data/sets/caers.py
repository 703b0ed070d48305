"""CAER-S (Lee, Kim, Kim, Park & Sohn, "Context-Aware Emotion Recognition Networks", ICCV 2019):
the static-image part of CAER, frames of TV shows, as its authors' Google-Drive archive unpacks.

Layout (the CAER project page, caer-dataset.github.io, and larrylu0426/CAERS-Annotation
``Readme.md``, which counts images per class folder): ``train/<Emotion>/NNNN.png`` and
``test/<Emotion>/NNNN.png`` under the archive's top folder ``CAER-S/``; the class is the folder,
there is no label file. Class folders: Anger (or Angry — the annotation repository's counts use
``Angry``; which spelling the archive has is not confirmed here, both are read), Disgust, Fear,
Happy, Neutral, Sad, Surprise, onto :data:`~emotion_lab.data.sets.BASIC7`. File names are not
read. The official split is train/test; val is cut from train (``data.val_fraction``).
"""

from __future__ import annotations

from emotion_lab.data.formats.release import FolderRelease
from emotion_lab.data.sets import BASIC7

IDS: dict[str, str] = {
    "Anger": "angry",
    "Angry": "angry",
    "Disgust": "disgust",
    "Fear": "fear",
    "Happy": "happy",
    "Neutral": "neutral",
    "Sad": "sad",
    "Surprise": "surprise",
}
"""Class folder → class name (matched case-insensitively)."""

SPLIT_DIRS = {"train": ("train",), "val": (), "test": ("test",)}
MARKERS = ("train", "test")
HINT = (
    "CAER-S is given out by its authors (caer-dataset.github.io); unpack its archive into {dir} "
    "so that {dir}/CAER-S/train/<Emotion>/ and {dir}/CAER-S/test/<Emotion>/ exist"
)
SPLIT_NOTE = "official: train/ → train, test/ → test; val cut from train (data.val_fraction)"


class CaerS(FolderRelease):
    """CAER-S's class folders under ``root`` (``<data_dir>/caers``), with or without its top
    folder ``CAER-S/``."""

    name = "caers"
    class_names = BASIC7
    ids = IDS
    split_dirs = SPLIT_DIRS
    markers = MARKERS
    hint = HINT
    split_note = SPLIT_NOTE
