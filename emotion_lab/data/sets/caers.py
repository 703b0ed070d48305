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

from pathlib import Path
from typing import Any

from emotion_lab.data.formats.decode import DEFAULT_MAX_PIXELS
from emotion_lab.data.formats.folders import ImageFolders
from emotion_lab.data.formats.release import locate_release
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


class CaerS(ImageFolders):
    """CAER-S's class folders under ``root`` (``<data_dir>/caers``), with or without its top
    folder ``CAER-S/``."""

    name = "caers"

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
        """Release folder, folder → class table and split protocol."""
        return {
            "set": self.name,
            "release": str(self.release),
            "ids": {f"folder {k}": v for k, v in IDS.items()},
            "resize": self.resize,
            "split": SPLIT_NOTE,
        }
