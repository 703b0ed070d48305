"""ExpW, Expression in-the-Wild (Zhang, Luo, Loy & Tang, "From Facial Expression Recognition to
Interpersonal Relation Prediction", IJCV 2018), as its authors share it: the ``data`` folder.

Layout (the release's readme, as quoted in public loaders; HazyResearch/meerkat
``meerkat/datasets/expw/__init__.py`` reads the same files and crops ``(left, top, right,
bottom)``):

- ``label/label.lst``: one line per face, space-separated, no header::

      image_name face_id_in_image face_box_top face_box_left face_box_right face_box_bottom
      face_box_cofidence expression_label

  e.g. ``angry_actor_104.jpg 0 28 113 226 141 22.9362 0``: rows 28..141, columns 113..226
  of the photo (note the order: top, left, right, bottom). A photo with several faces has one
  line per face; each face is one sample, keyed ``<image_name>#<face_id>``, cropped by its box.
  The confidence is the face detector's score (not a probability; values above 1 occur);
  ``min_confidence`` leaves out faces below it (counted). A line repeated word for word is
  counted once (meerkat drops such duplicates too).
- ``image/origin/<image_name>``: the whole photos, shipped as a multi-part ``origin.7z`` in
  ``image/`` that unpacks to ``origin/``. Also accepted: ``image/origin/origin/`` and
  ``image/origin.7z/origin/`` (an archive unpacked into a folder named after it), and
  ``origin/`` beside ``label/`` (:data:`IMAGE_DIRS`, the first that holds files). The release
  may sit under the share's own top folders (``ExpW/data/``): it is looked for two levels down.

Ids: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral.

Split: none is shipped, and the ratio of the ExpW paper could not be confirmed; the split made
here is a common one, 80 % train / 10 % val / 10 % test, per face, stratified by class and
seeded (:class:`~emotion_lab.data.splits.FixedSplit`), the same for everyone with the release.
Faces of one photo may land in different splits (they are different people).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from emotion_lab.data.crops import Box
from emotion_lab.data.formats.release import (
    Excluded,
    Item,
    OfficialRelease,
    Problem,
    Record,
    read_lines,
)
from emotion_lab.data.sets import BASIC7
from emotion_lab.data.splits import FixedSplit
from emotion_lab.errors import ConfigError

LABELS = "label/label.lst"
IMAGE_DIRS: tuple[str, ...] = (
    "image/origin",
    "image/origin/origin",
    "image/origin.7z/origin",
    "origin",
)
FIELDS = 8


class ExpW(OfficialRelease):
    name = "expw"
    class_names = BASIC7
    ids = {
        "0": "angry",
        "1": "disgust",
        "2": "fear",
        "3": "happy",
        "4": "sad",
        "5": "surprise",
        "6": "neutral",
    }
    markers = (LABELS,)
    hint = (
        "ExpW is shared by its authors (mmlab.ie.cuhk.edu.hk/projects/socialrelation/); put its "
        "data folder into {dir} and unpack image/origin.7z.001 there, so that "
        "{dir}/data/label/label.lst and {dir}/data/image/origin/ exist"
    )
    # UNCONFIRMED ratio (see the module docstring): a common 80/10/10, stratified, seed 0
    fixed_split = FixedSplit({"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)

    def __init__(
        self, root: str | Path, min_confidence: float | None = None, **kwargs: Any
    ) -> None:
        if min_confidence is not None and (
            isinstance(min_confidence, bool)
            or not isinstance(min_confidence, int | float)
            or not math.isfinite(min_confidence)
        ):
            raise ConfigError(
                f"data.source.min_confidence must be a number or null; got {min_confidence!r}"
            )
        self.min_confidence = None if min_confidence is None else float(min_confidence)
        super().__init__(root, **kwargs)
        self.image_dir = _image_dir(self.release)

    def label_files(self) -> list[Path]:
        return [self.release / LABELS]

    def settings(self) -> tuple[Any, ...]:
        return (self.min_confidence, str(self.image_dir.relative_to(self.release)))

    def items(self) -> Iterable[Item]:
        return self._items()

    def _items(self) -> Iterator[Item]:
        labels = self.release / LABELS
        seen: set[tuple[str, ...]] = set()
        for line, text in read_lines(labels):
            where = f"{labels}:{line}"
            fields = text.split()
            if len(fields) != FIELDS:
                yield Problem(
                    where,
                    f"expected 8 fields (image face_id top left right bottom confidence "
                    f"label), got {len(fields)}",
                )
                continue
            if tuple(fields) in seen:
                yield Excluded("line repeated word for word")
                continue
            seen.add(tuple(fields))
            image, face, *box_text, confidence_text, label = fields
            try:
                top, left, right, bottom = (float(v) for v in box_text)
                confidence = float(confidence_text)
            except ValueError:
                yield Problem(where, f"face box or confidence is not numeric: {text!r}")
                continue
            if not all(map(math.isfinite, (top, left, right, bottom))) or not (
                right > left and bottom > top
            ):
                yield Problem(
                    where,
                    f"face box top {top:g} left {left:g} right {right:g} "
                    f"bottom {bottom:g} has no area",
                )
                continue
            if self.min_confidence is not None and not confidence >= self.min_confidence:
                yield Excluded(f"face box confidence below {self.min_confidence:g}")
                continue
            box = Box(left=left, top=top, right=right, bottom=bottom)
            yield Record(self.image_dir / image, label, where, box=box, key=f"{image}#{face}")


def _image_dir(release: Path) -> Path:
    """The first of :data:`IMAGE_DIRS` that holds a file (the unpacked photos); the usual
    ``image/origin`` when none does, so that a missing photo is reported by its path."""
    for name in IMAGE_DIRS:
        folder = release / name
        try:
            with os.scandir(folder) as it:
                if any(e.is_file() for e in it):
                    return folder
        except OSError:
            continue
    return release / IMAGE_DIRS[0]
