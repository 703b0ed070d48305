"""Kaggle's "Face expression recognition dataset" (jonathanoheix/face-expression-recognition-
dataset): FER2013-style 48×48 grey faces in class folders, the set S003 trains on.

Layout (the data set's Kaggle page and loaders of it): ``images/train/<class>/*.jpg`` (about
28,800) and ``images/validation/<class>/*.jpg`` (about 7,066), class folders ``angry disgust
fear happy neutral sad surprise`` onto :data:`~emotion_lab.data.sets.BASIC7`. Some downloads
hold a second copy nested as ``images/images/``; the first release folder found (the outer
one) is read and the copy below it ignored. That copy's presence is not confirmed here.

Split: ``validation/`` is the set's only evaluation split and S003 monitors and reports on it
("val accuracy"), so it is read as val; there is no test split, so the test stage evaluates on
val (the data module says so). train/ → train.
"""

from __future__ import annotations

from typing import Any

from emotion_lab.data.formats.release import FolderRelease
from emotion_lab.data.sets import BASIC7

IDS: dict[str, str] = {name: name for name in sorted(BASIC7)}
"""Class folder → class name (matched case-insensitively)."""

SPLIT_DIRS = {"train": ("train",), "val": ("validation",), "test": ()}
MARKERS = ("train", "validation")
HINT = (
    "download Kaggle's 'Face expression recognition dataset' (jonathanoheix) and unpack it into "
    "{dir} so that {dir}/images/train/<class>/ and {dir}/images/validation/<class>/ exist"
)
SPLIT_NOTE = (
    "official: train/ → train, validation/ → val (S003 reports validation accuracy); no test "
    "split: the test stage evaluates on val"
)


class FaceExpression(FolderRelease):
    """The set's class folders under ``root`` (``<data_dir>/face_expression``), with or without
    its top folder ``images/``."""

    name = "face_expression"
    class_names = BASIC7
    ids = IDS
    split_dirs = SPLIT_DIRS
    markers = MARKERS
    hint = HINT
    split_note = SPLIT_NOTE

    def describe(self) -> dict[str, Any]:
        """As every folder release, and which copy was read when the download nests a second."""
        out = super().describe()
        nested = self.release / "images"
        if any((nested / m).is_dir() for m in MARKERS):
            out["ignored"] = f"{nested} (a second copy of the set)"
        return out
