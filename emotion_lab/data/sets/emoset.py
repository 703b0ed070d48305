"""EmoSet-118K (Yang et al., ICCV 2023), as its authors hand it out: ``EmoSet-118K.zip``.

Layout (the authors' README and loader, github.com/JingyuanYY/EmoSet ``README.md``,
``EmoSet.py``; their ``info.json`` is in the same repository):

- ``info.json``: per attribute a ``label2idx`` / ``idx2label`` table; the emotion one is
  ``info["emotion"]["label2idx"]``, the others (scene, object, brightness...) are not used here;
- ``train.json`` / ``val.json`` / ``test.json``: the official split, each a JSON list of
  ``[emotion, image_id, image_path, annotation_path]``, e.g.
  ``["amusement", "amusement_12865", "image/amusement/amusement_12865.jpg",
  "annotation/amusement/amusement_12865.json"]``, paths relative to the release folder;
- ``image/<emotion>/<image_id>.jpg`` and ``annotation/<emotion>/<image_id>.json``.

The archive's top folder (``EmoSet-118K/``, as third-party loaders name it; not documented by
the authors) may be kept or not. Labels go the authors' way, name → ``label2idx`` of the
release's own ``info.json`` → our class: ids 0 amusement, 1 awe, 2 contentment, 3 excitement,
4 anger, 5 disgust, 6 fear, 7 sadness (positive first, not alphabetical). An ``info.json`` whose
emotion table differs from that is a different release and stops with an error. An entry whose
image folder (``image/<emotion>/``) or id prefix names another emotion than its label, an
unknown emotion, or a malformed entry is a bad sample named ``train.json[12]``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import Split
from emotion_lab.data.formats.release import Item, OfficialRelease, Problem, Record
from emotion_lab.data.sets import MIKELS8

INFO = "info.json"
SPLIT_FILES: dict[Split, str] = {"train": "train.json", "val": "val.json", "test": "test.json"}

LABEL2IDX: dict[str, int] = {
    "amusement": 0,
    "awe": 1,
    "contentment": 2,
    "excitement": 3,
    "anger": 4,
    "disgust": 5,
    "fear": 6,
    "sadness": 7,
}
"""The emotion ``label2idx`` of the release's ``info.json`` (README and repository copy)."""


class EmoSet118K(OfficialRelease):
    name = "emoset118k"
    class_names = MIKELS8
    ids = {str(idx): emotion for emotion, idx in LABEL2IDX.items()}
    markers = (INFO,)
    hint = (
        "EmoSet-118K is given out by its authors (github.com/JingyuanYY/EmoSet); unzip "
        "EmoSet-118K.zip into {dir} so that {dir}/EmoSet-118K/info.json and train.json exist"
    )
    split_note = "official: train.json / val.json / test.json"

    def label_files(self) -> list[Path]:
        files = [self.release / INFO, *(self.release / f for f in SPLIT_FILES.values())]
        return [f for f in files if f.is_file()]  # a missing one is reported by items()

    def items(self) -> Iterable[Item]:
        label2idx = self._label2idx()
        for split, name in SPLIT_FILES.items():
            yield from self._entries(self.release / name, split, label2idx)

    def _label2idx(self) -> dict[str, int]:
        """The emotion table of the release's own ``info.json``, checked against the known one."""
        path = self.release / INFO
        info = _load_json(path)
        emotion = info.get("emotion") if isinstance(info, dict) else None
        table = emotion.get("label2idx") if isinstance(emotion, dict) else None
        if not isinstance(table, dict):
            raise DataError(f"{path}: no emotion label2idx table (info['emotion']['label2idx'])")
        got = {str(k): v for k, v in table.items()}
        if got != LABEL2IDX:
            raise DataError(
                f"{path}: emotion label2idx {got} differs from EmoSet-118K's {LABEL2IDX}; "
                "not the release this reader knows"
            )
        return got

    def _entries(self, path: Path, split: Split, label2idx: dict[str, int]) -> Iterator[Item]:
        entries = _load_json(path)
        if not isinstance(entries, list):
            raise DataError(
                f"{path}: expected a JSON list of entries, got {type(entries).__name__}"
            )
        for index, entry in enumerate(entries):
            where = f"{path}[{index}]"
            problem = _check_entry(entry, label2idx)
            if problem:
                yield Problem(where, problem, split)
                continue
            emotion, _, image, _ = entry
            yield Record(self.release / image, str(label2idx[emotion]), where, split)


def _check_entry(entry: Any, label2idx: dict[str, int]) -> str:
    """What is wrong with one ``[emotion, image_id, image_path, annotation_path]`` entry."""
    if (
        not isinstance(entry, list)
        or len(entry) != 4
        or not all(isinstance(v, str) and v for v in entry)
    ):
        shown = json.dumps(entry)[:120]
        return f"expected [emotion, image_id, image_path, annotation_path], got {shown}"
    emotion, image_id, image, _ = entry
    if emotion not in label2idx:
        return f"unknown emotion {emotion!r} (EmoSet-118K: {', '.join(label2idx)})"
    parts = Path(image).parts
    if os.path.isabs(image) or ".." in parts:
        return f"image path {image!r} leaves the release folder"
    folder = parts[1] if len(parts) == 3 and parts[0] == "image" else None
    if folder in label2idx and folder != emotion:
        return f"labelled {emotion!r} but its image is in image/{folder}/"
    prefix = image_id.rsplit("_", 1)[0]
    if prefix in label2idx and prefix != emotion:
        return f"labelled {emotion!r} but its id {image_id!r} names {prefix!r}"
    return ""


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise DatasetNotFoundError(f"label file not found: {path}")
    try:
        with path.open(encoding="utf-8-sig") as fh:
            return json.load(fh)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
