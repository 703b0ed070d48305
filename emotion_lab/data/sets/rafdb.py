"""RAF-DB basic (Li, Deng & Du, CVPR 2017), as its authors hand it out: the ``basic/`` folder.

Layout (the release's README and ``EmoLabel/list_patition_label.txt``):

- ``EmoLabel/list_patition_label.txt``: ``train_00001.jpg 5`` per line; the file-name prefix
  (``train_`` / ``test_``) is the official split (12,271 train, 3,068 test);
- ``Image/aligned/train_00001_aligned.jpg``: 100×100 aligned faces (the usual protocol);
- ``Image/original/train_00001.jpg`` with ``Annotation/boundingbox/train_00001_boundingbox.txt``
  (``x1 y1 x2 y2``): the whole photos, cropped here by their boxes (``images: original``).

Ids: 1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emotion_lab.data.crops import Box
from emotion_lab.data.formats.release import Item, OfficialRelease, Problem, Record, read_lines
from emotion_lab.data.sets import BASIC7
from emotion_lab.errors import ConfigError

LABELS = "EmoLabel/list_patition_label.txt"
IMAGE_VERSIONS = ("aligned", "original")


class RafDb(OfficialRelease):
    name = "rafdb"
    class_names = BASIC7
    ids = {
        "1": "surprise",
        "2": "fear",
        "3": "disgust",
        "4": "happy",
        "5": "sad",
        "6": "angry",
        "7": "neutral",
    }
    markers = (LABELS,)
    hint = (
        "RAF-DB is given out by its authors on request (whdeng.cn/RAF); unpack the basic "
        "archive into {dir} so that {dir}/basic/EmoLabel/list_patition_label.txt exists"
    )
    split_note = "official: train_* and test_* of list_patition_label.txt; val cut from train"

    def __init__(self, root: str | Path, images: str = "aligned", **kwargs: Any) -> None:
        if images not in IMAGE_VERSIONS:
            raise ConfigError(
                f"data.source.images must be one of {', '.join(IMAGE_VERSIONS)}; got {images!r}"
            )
        self.images = images
        super().__init__(root, **kwargs)

    def label_files(self) -> list[Path]:
        return [self.release / LABELS]

    def settings(self) -> tuple[Any, ...]:
        return (self.images,)

    def items(self) -> Iterable[Item]:
        labels = self.release / LABELS
        for line, text in read_lines(labels):
            where = f"{labels}:{line}"
            fields = text.split()
            if len(fields) != 2:
                yield Problem(where, f"expected '<image> <label>', got {text!r}")
                continue
            image, label = fields
            split = (
                "train"
                if image.startswith("train_")
                else "test"
                if image.startswith("test_")
                else None
            )
            if split is None:
                yield Problem(where, f"image {image!r} starts with neither train_ nor test_")
                continue
            stem = Path(image).stem
            if self.images == "aligned":
                path = self.release / "Image" / "aligned" / f"{stem}_aligned.jpg"
                yield Record(path, label, where, split, key=image)
                continue
            box_file = self.release / "Annotation" / "boundingbox" / f"{stem}_boundingbox.txt"
            box = _read_box(box_file)
            if isinstance(box, str):
                yield Problem(where, box, split)
                continue
            yield Record(
                self.release / "Image" / "original" / image, label, where, split, box, image
            )


def _read_box(path: Path) -> Box | str:
    """The ``x1 y1 x2 y2`` box of one original image, or what is wrong with its file."""
    try:
        values = [float(v) for v in path.read_text(encoding="utf-8").split()]
    except FileNotFoundError:
        return f"box file not found: {path}"
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return f"unreadable box file {path} ({err})"
    if len(values) != 4:
        return f"{path}: expected 4 numbers (x1 y1 x2 y2), got {len(values)}"
    return Box(*values)
