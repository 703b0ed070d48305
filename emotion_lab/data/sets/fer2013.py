"""FER2013 (Goodfellow et al., "Challenges in Representation Learning", ICML 2013 workshop), as
Kaggle hands it out, in any of its three forms:

- ``fer2013.csv`` (the original tarball ``fer2013.tar.gz``, top folder ``fer2013/``): header
  ``emotion,pixels,Usage``; ``pixels`` is 2304 space-separated grey levels of a 48×48 face, row
  by row; ``Usage`` is ``Training`` (28,709), ``PublicTest`` (3,589) or ``PrivateTest`` (3,589);
- ``icml_face_data.csv`` (the competition's file list): the same rows, header
  ``emotion, Usage, pixels`` (spaces after the commas; columns are found by their stripped name);
- the image-folder repack (Kaggle ``msambare/fer2013``): ``train/<class>/*.jpg`` and
  ``test/<class>/*.jpg``, 48×48 grey, class folders ``angry disgust fear happy neutral sad
  surprise``. Its ``test/`` is PublicTest and PrivateTest together and it has no validation
  split, so the protocol differs: val is cut from train (``data.val_fraction``).

Headers as torchvision's ``FER2013`` data set checks them (``torchvision/datasets/fer2013.py``);
the folder names from loaders of the Kaggle repack (their file names are not confirmed here).
The CSV is preferred when both are present. Splits of the CSVs: Training → train, PublicTest →
val, PrivateTest → test.

Ids (the ``emotion`` column): 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise,
6 neutral — the order of :data:`~emotion_lab.data.sets.BASIC7`.

Images stay 48×48 grey whatever the model's size and channels (the data module converts them),
in both forms, so that a checkpoint prepares images the same way whichever form it was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emotion_lab.data.formats.base import ImageSet, Split
from emotion_lab.data.formats.decode import DEFAULT_MAX_PIXELS
from emotion_lab.data.formats.fer2013_csv import Fer2013Csv
from emotion_lab.data.formats.folders import ImageFolders
from emotion_lab.data.formats.release import locate_release
from emotion_lab.data.sets import BASIC7

CSV_FILES = ("fer2013.csv", "icml_face_data.csv")
"""The CSV forms, in the order they are preferred."""

FOLDER_SPLITS = {"train": ("train",), "val": (), "test": ("test",)}
"""Split folders of the image-folder repack (it has no validation folder)."""

IDS: dict[str, str] = {str(i): name for i, name in enumerate(BASIC7)}
"""The ``emotion`` column's ids."""

CSV_SPLITS = "official: Usage Training → train, PublicTest → val, PrivateTest → test"
FOLDER_SPLIT_NOTE = (
    "image-folder repack: train/ → train, test/ (PublicTest + PrivateTest together) → test; "
    "no validation split, so val is cut from train (data.val_fraction) — not the CSV protocol "
    "(PublicTest is not the validation set)"
)

HINT = (
    "download fer2013.csv (fer2013.tar.gz) or icml_face_data.csv from the Kaggle competition "
    "'Challenges in Representation Learning: Facial Expression Recognition Challenge' into "
    "{dir} (the archive's own fer2013/ folder may stay), or the image-folder version as "
    "{dir}/train/<class>/ and {dir}/test/<class>/"
)


class Fer2013:
    """FER2013 from whichever form is under ``root`` (``<data_dir>/fer2013``): one of the CSVs
    (read by :class:`~emotion_lab.data.formats.fer2013_csv.Fer2013Csv`) or the image folders."""

    name = "fer2013"

    def __init__(
        self,
        root: str | Path,
        on_bad_sample: str = "error",
        cache_dir: str | Path | None = None,
        decode_workers: int | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.root = Path(root)
        hint = HINT.format(dir=self.root)
        self.release = locate_release(self.root, (*CSV_FILES, "train"), hint)
        csv = next((self.release / f for f in CSV_FILES if (self.release / f).is_file()), None)
        self.file = csv or self.release / "train"
        self.classes: tuple[str, ...] = BASIC7
        self._source: Fer2013Csv | ImageFolders
        if csv is not None:
            self._source = Fer2013Csv(
                csv, on_bad_sample=on_bad_sample, classes=BASIC7, hint=hint, cache_dir=cache_dir
            )
            self.split_note = CSV_SPLITS
        else:
            self._source = ImageFolders(
                self.release,
                image_size=None,  # 48×48 as shipped, like the CSV
                channels=1,
                on_bad_sample=on_bad_sample,
                split_dirs=FOLDER_SPLITS,
                classes=BASIC7,
                hint=hint,
                cache_dir=cache_dir,
                decode_workers=decode_workers,
                max_pixels=max_pixels,
            )
            self.split_note = FOLDER_SPLIT_NOTE

    @property
    def version(self) -> str:
        """Which form was found: ``csv`` or ``folders``."""
        return "csv" if isinstance(self._source, Fer2013Csv) else "folders"

    def available_splits(self) -> tuple[Split, ...]:
        return self._source.available_splits()

    def load(self, split: Split) -> ImageSet:
        return self._source.load(split)

    def describe(self) -> dict[str, Any]:
        """The form read, its file or folder, the id table and the split protocol."""
        if self.version == "csv":
            ids: dict[str, str] = {f"emotion {k}": v for k, v in IDS.items()}
        else:
            ids = {f"folder {c}": c for c in sorted(BASIC7)}
        return {
            "set": self.name,
            "release": str(self.release),
            "read": str(self.file),
            "version": self.version,
            "ids": ids,
            "split": self.split_note,
        }
