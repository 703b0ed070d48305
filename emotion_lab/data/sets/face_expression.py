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

from pathlib import Path
from typing import Any

from emotion_lab.data.formats.decode import DEFAULT_MAX_PIXELS
from emotion_lab.data.formats.folders import ImageFolders
from emotion_lab.data.formats.release import locate_release
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


class FaceExpression(ImageFolders):
    """The set's class folders under ``root`` (``<data_dir>/face_expression``), with or without
    its top folder ``images/``."""

    name = "face_expression"

    def __init__(
        self,
        root: str | Path,
        image_size: int | None = None,
        channels: int = 3,
        on_bad_sample: str = "error",
        cache_dir: str | Path | None = None,
        decode_workers: int | None = None,
        resize: str = "stretch",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        hint = HINT.format(dir=root)
        self.release = locate_release(Path(root), MARKERS, hint)
        super().__init__(
            self.release,
            image_size=image_size,
            channels=channels,
            on_bad_sample=on_bad_sample,
            split_dirs=SPLIT_DIRS,
            classes=BASIC7,
            class_aliases=IDS,
            hint=hint,
            cache_dir=cache_dir,
            decode_workers=decode_workers,
            resize=resize,
            max_pixels=max_pixels,
        )

    def describe(self) -> dict[str, Any]:
        """Release folder (which copy was read), folder → class table and split protocol."""
        out: dict[str, Any] = {
            "set": self.name,
            "release": str(self.release),
            "ids": {f"folder {k}": v for k, v in IDS.items()},
            "resize": self.resize,
            "split": SPLIT_NOTE,
        }
        nested = self.release / "images"
        if any((nested / m).is_dir() for m in MARKERS):
            out["ignored"] = f"{nested} (a second copy of the set)"
        return out
