"""AffectNet (Mollahosseini, Hasani & Mahoor, IEEE TAC 2017), either release as its authors
hand it out, read as AffectNet-7 (:class:`AffectNet7`) or AffectNet-8 (:class:`AffectNet8`).

Original release (the paper's; layout from public loaders: the ``hcai_affectnet`` TFDS builder
of hcmlab's hcai-datasets, which reads both lists with a header and the validation list as the
test set, and croppers that take ``face_x, face_y, face_x + face_width, face_y + face_height``):

- ``Manually_Annotated_file_lists/training.csv`` (≈414k rows) and ``validation.csv`` (5,500),
  header ``subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,
  expression,valence,arousal``; ``facial_landmarks`` is 136 numbers joined by ``;`` inside one
  field. Some copies of ``validation.csv`` are said to lack the header: a first line that does
  not start with ``subDirectory_filePath`` is read as data, columns in the order above.
- images under ``Manually_Annotated_Images/<subDirectory_filePath>``; the image archive
  (``Manually_Annotated_compressed.zip``) is also found unpacked as
  ``Manually_Annotated_compressed/Manually_Annotated_Images/`` or
  ``Manually_Annotated/Manually_Annotated_Images/`` (:data:`CSV_IMAGE_DIRS`, first one present).
- whole photos: each face is cropped by its (face_x, face_y, face_width, face_height) box.

Newer release (layout and dtypes from its readme as quoted, with run outputs, by the notebook
``notebooks/data_exploration_raw_AffectNet.ipynb`` of armand-07/emotion_recognition):

- ``train_set/images/<n>.jpg`` with ``train_set/annotations/<n>_exp.npy`` (and ``_val``,
  ``_aro``, ``_lnd``), likewise ``val_set/``; faces already cropped, no box. The expression is a
  one-element array, stored as a string (``'3'``) in the copies seen; an integer is read too.
  ``.npy`` files are loaded with ``allow_pickle=False``: one that needs unpickling is a bad
  sample, never unpickled.

Splits: training → train, validation (``validation.csv`` / ``val_set``) → test, as papers do
(the test set was never released); val is cut from train by the data module.

Ids (both releases): 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger,
7 contempt, 8 none, 9 uncertain, 10 non-face. AffectNet-7 leaves out 7-10, AffectNet-8 leaves
out 8-10 (counted in the summary, never trained on). Unconfirmed: whether every copy of the
newer release stores the expression as a string; both are read.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emotion_lab.data.crops import Box
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import Split
from emotion_lab.data.formats.release import Item, OfficialRelease, Problem, Record, read_lines
from emotion_lab.data.sets import BASIC7, BASIC8
from emotion_lab.errors import ConfigError

CSV_LISTS = "Manually_Annotated_file_lists"
CSV_FILES: tuple[tuple[str, Split], ...] = (
    (f"{CSV_LISTS}/training.csv", "train"),
    (f"{CSV_LISTS}/validation.csv", "test"),
)
CSV_IMAGE_DIRS: tuple[str, ...] = (
    "Manually_Annotated_Images",
    "Manually_Annotated_compressed/Manually_Annotated_Images",
    "Manually_Annotated/Manually_Annotated_Images",
)
CSV_COLUMNS: tuple[str, ...] = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
NPY_SETS: tuple[tuple[str, Split], ...] = (("train_set", "train"), ("val_set", "test"))
RELEASES: tuple[str, ...] = ("auto", "csv", "npy")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

_CSV_MARKERS = tuple(f for f, _ in CSV_FILES)
_NPY_MARKERS = tuple(f"{d}/annotations" for d, _ in NPY_SETS)

# The release's expression ids; which ones a protocol keeps is set per class below.
EXPRESSIONS: dict[str, str] = {
    "0": "neutral",
    "1": "happy",
    "2": "sad",
    "3": "surprise",
    "4": "fear",
    "5": "disgust",
    "6": "angry",
    "7": "contempt",
}
NOT_EXPRESSIONS = ("8", "9", "10")
"""None, uncertain, non-face: never a class in any protocol."""


def _protocol_ids(kept: int) -> dict[str, str | None]:
    """The release's id table with only its first ``kept`` expressions kept (ids 0..kept-1)."""
    table: dict[str, str | None] = {
        k: (v if int(k) < kept else None) for k, v in EXPRESSIONS.items()
    }
    return {**table, **dict.fromkeys(NOT_EXPRESSIONS)}


class _AffectNet(OfficialRelease):
    """Both releases; ``release`` picks one when a folder holds both (auto: refuse to guess)."""

    markers = _CSV_MARKERS + _NPY_MARKERS
    hint = (
        "AffectNet is given out by its authors on request (mohammadmahoor.com/affectnet); "
        "unpack it into {dir} so that {dir}/Manually_Annotated_file_lists/training.csv "
        "(original release) or {dir}/train_set/annotations/ (newer release) exists"
    )
    split_note = (
        "official: training → train, validation → test (the test set is not public); "
        "val cut from train"
    )

    def __init__(self, root: str | Path, release: str = "auto", **kwargs: Any) -> None:
        if release not in RELEASES:
            raise ConfigError(
                f"data.source.release must be one of {', '.join(RELEASES)}; got {release!r}"
            )
        if release != "auto":  # look only for the asked release's files
            self.markers = _CSV_MARKERS if release == "csv" else _NPY_MARKERS
        super().__init__(root, **kwargs)
        has_csv = any((self.release / m).exists() for m in _CSV_MARKERS)
        has_npy = any((self.release / m).exists() for m in _NPY_MARKERS)
        if release == "auto" and has_csv and has_npy:
            raise DataError(
                f"{self.release}: both AffectNet releases are here (original: "
                f"{self.release / CSV_LISTS}; newer: {self.release / NPY_SETS[0][0]}); "
                "set data.source.release to csv or npy"
            )
        self.kind = release if release != "auto" else ("csv" if has_csv else "npy")
        self.image_dir = self._csv_image_dir() if self.kind == "csv" else None

    def _csv_image_dir(self) -> Path:
        for name in CSV_IMAGE_DIRS:
            if (self.release / name).is_dir():
                return self.release / name
        raise DatasetNotFoundError(
            f"{self.release}: no image folder of the original AffectNet release (looked for "
            f"{', '.join(CSV_IMAGE_DIRS)}); unpack Manually_Annotated_compressed into it"
        )

    def label_files(self) -> list[Path]:
        if self.kind == "csv":
            return [p for f, _ in CSV_FILES if (p := self.release / f).is_file()]
        # 4 annotation files per image: their folders change when files come or go
        return [p for d, _ in NPY_SETS if (p := self.release / d / "annotations").is_dir()]

    def settings(self) -> tuple[Any, ...]:
        image_dir = None if self.image_dir is None else self.image_dir.relative_to(self.release)
        return (self.kind, str(image_dir))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["release_format"] = (
            "original (Manually_Annotated_file_lists/*.csv, cropped by face boxes)"
            if self.kind == "csv"
            else "newer (train_set/, val_set/ with .npy annotations, faces as shipped)"
        )
        return out

    def items(self) -> Iterable[Item]:
        return self._csv_items() if self.kind == "csv" else self._npy_items()

    # -- original release: two CSV lists, whole photos cropped by their face boxes ------------

    def _csv_items(self) -> Iterator[Item]:
        found = False
        for name, split in CSV_FILES:
            path = self.release / name
            if not path.is_file():
                continue
            found = True
            columns = {c: i for i, c in enumerate(CSV_COLUMNS)}
            width = len(CSV_COLUMNS)
            first = True
            for line, text in read_lines(path):
                where = f"{path}:{line}"
                row = next(csv.reader([text]))
                if first and row and row[0].strip() == CSV_COLUMNS[0]:
                    header = [c.strip() for c in row]
                    missing = [c for c in CSV_COLUMNS[:7] if c not in header]
                    if missing:
                        raise DataError(f"{where}: header lacks column(s) {', '.join(missing)}")
                    columns = {c: header.index(c) for c in CSV_COLUMNS if c in header}
                    width = len(header)
                    first = False
                    continue
                first = False
                yield self._csv_row(row, columns, width, where, split)
        if not found:
            raise DatasetNotFoundError(
                f"{self.release}: neither {' nor '.join(_CSV_MARKERS)} found; {self.hint}"
            )

    def _csv_row(
        self, row: list[str], columns: dict[str, int], width: int, where: str, split: Split
    ) -> Item:
        if len(row) != width:
            return Problem(where, f"expected {width} comma-separated fields, got {len(row)}", split)
        image = row[columns["subDirectory_filePath"]].strip()
        if not image:
            return Problem(where, "empty subDirectory_filePath", split)
        fields = [row[columns[c]] for c in ("face_x", "face_y", "face_width", "face_height")]
        try:
            x, y, w, h = (float(v) for v in fields)
        except ValueError:
            return Problem(where, f"face box {','.join(fields)} is not numeric", split)
        if not all(map(math.isfinite, (x, y, w, h))) or w <= 0 or h <= 0:
            return Problem(where, f"face box {','.join(fields)} has no area", split)
        assert self.image_dir is not None
        box = Box.from_xywh(x, y, w, h)
        label = row[columns["expression"]]
        return Record(self.image_dir / image, label, where, split, box, image)

    # -- newer release: one image and one expression file per face, faces already cropped -----

    def _npy_items(self) -> Iterator[Item]:
        for folder, split in NPY_SETS:
            annotations = self.release / folder / "annotations"
            if not annotations.is_dir():
                continue
            images = _images_by_stem(self.release / folder / "images")
            for exp in sorted(annotations.glob("*_exp.npy"), key=_numeric_first):
                stem = exp.name[: -len("_exp.npy")]
                image = images.get(stem, self.release / folder / "images" / f"{stem}.jpg")
                label = _read_expression(exp)
                if isinstance(label, Problem):
                    yield Problem(label.where, label.message, split)
                    continue
                yield Record(image, label, str(exp), split, key=f"{folder}/{stem}")


class AffectNet7(_AffectNet):
    """AffectNet-7: the 7 basic expressions; contempt, none, uncertain and non-face left out."""

    name = "affectnet7"
    class_names = BASIC7
    ids = _protocol_ids(kept=7)


class AffectNet8(_AffectNet):
    """AffectNet-8: the 7 basic expressions and contempt; none, uncertain, non-face left out."""

    name = "affectnet8"
    class_names = BASIC8
    ids = _protocol_ids(kept=8)


def _images_by_stem(folder: Path) -> dict[str, Path]:
    """``<n>`` → ``<n>.jpg`` (or another image suffix) of one ``images/`` folder."""
    if not folder.is_dir():
        return {}
    return {
        p.stem: p
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    }


def _numeric_first(path: Path) -> tuple[int, int, str]:
    stem = path.name.split("_", 1)[0]
    return (0, int(stem), path.name) if stem.isdigit() else (1, 0, path.name)


def _read_expression(path: Path) -> str | Problem:
    """The id in one ``<n>_exp.npy`` as text (``'3'`` and ``3`` alike), or what is wrong."""
    try:
        value = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            return Problem(str(path), "label file holds Python objects (needs pickle); not loaded")
        return Problem(str(path), f"unreadable label file ({err})")
    except OSError as err:
        return Problem(str(path), f"unreadable label file ({err})")
    if not isinstance(value, np.ndarray) or value.size != 1:
        return Problem(str(path), f"expected one expression id, got shape {np.shape(value)}")
    item = value.reshape(()).item()
    if isinstance(item, bytes):
        item = item.decode("utf-8", "replace")
    if isinstance(item, float) and item.is_integer():
        item = int(item)
    return str(item).strip()
