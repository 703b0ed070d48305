"""WEBEmo (Panda et al., ECCV 2018) as the binary task sad / not sad of S000.

What the authors ship (their README, as redistributed with a download script on GitHub: "The
dataset and contact belong to Rameswar Panda"): no images, three text files:

- ``train25.txt`` (213,952 lines) / ``test25.txt`` (53,489): ``<image URL> <fine id>`` per line,
  one space, no header, e.g. ``https://as2.ftcdn.net/jpg/00/42/93/78/220_F_42937802_....jpg 0``;
- ``category.txt``: the three-level hierarchy, entries like ``('affection', 'love', '+')``
  (fine, level-2, level-1), in fine-id order.

Images are downloaded by the user. This reader expects them where the download script that
accompanies that README puts them: ``<split>/<fine id>/<last URL part>``, beside the lists
(``train/0/220_F_42937802_....jpg``). A listed image that is not there (a dead URL) is counted
as not downloaded and left out, not an error: the URLs date from July 2017.

Fine ids (level-2 in brackets, as in Zijun Wei's copy of ``category.txt``): 0 affection (love),
1 cheerfullness (joy), 2 confusion (confusion), 3 contentment (joy), 4 disappointment (sadness),
5 disgust (anger), 6 enthrallment (joy), 7 envy (anger), 8 exasperation (anger), 9 gratitude
(love), 10 horror (fear), 11 irritabilty (anger), 12 lust (love), 13 neglect (sadness),
14 nervousness (fear), 15 optimism (joy), 16 pride (joy), 17 rage (anger), 18 relief (joy),
19 sadness (sadness), 20 shame (sadness), 21 suffering (sadness), 22 surprise (surprise),
23 sympathy (sadness), 24 zest (joy). Spellings as shipped. A ``category.txt`` beside the lists
is checked against this order.

The sadness task, UNCONFIRMED: S000 trains on "a 61074 filtered images" subset with about 46 %
sad, split 80 / 10 / 10 (its ref. [24], Motiejauskas & Dzemyda, IJCCC 19(5) 2024, describes the
filtering; its full text was not available). This reader maps by the hierarchy: ``sad`` = the
fine labels whose level-2 emotion is sadness (disappointment, neglect, sadness, shame,
suffering, sympathy); ``not_sad`` = every other fine label. ``confusion``, whose level-2 group is
itself in one copy and sadness in another reading of the README, is not_sad. Both sets are
options (``sad_labels``, ``not_sad_labels``: fine names; a label in neither is left out and
counted). train25 and test25 are pooled and cut by the fixed, stratified, seeded 80 / 10 / 10
split, as the paper pools its subset.

Also read: the subset as two folders, ``<root>/sad/`` and ``<root>/not_sad/`` (any image files
below them), for those who have the paper's subset; the same fixed split applies.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.cache import CACHE_DIRNAME
from emotion_lab.data.formats.folders import list_images
from emotion_lab.data.formats.release import (
    Excluded,
    Item,
    OfficialRelease,
    Problem,
    Record,
    read_lines,
)
from emotion_lab.data.sets import SADNESS2
from emotion_lab.data.splits import FixedSplit
from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)

LISTS = {"train": "train25.txt", "test": "test25.txt"}
CATEGORIES = "category.txt"

FINE: tuple[tuple[str, str, str], ...] = (
    ("affection", "love", "+"),
    ("cheerfullness", "joy", "+"),
    ("confusion", "confusion", "-"),
    ("contentment", "joy", "+"),
    ("disappointment", "sadness", "-"),
    ("disgust", "anger", "-"),
    ("enthrallment", "joy", "+"),
    ("envy", "anger", "-"),
    ("exasperation", "anger", "-"),
    ("gratitude", "love", "+"),
    ("horror", "fear", "-"),
    ("irritabilty", "anger", "-"),
    ("lust", "love", "+"),
    ("neglect", "sadness", "-"),
    ("nervousness", "fear", "-"),
    ("optimism", "joy", "+"),
    ("pride", "joy", "+"),
    ("rage", "anger", "-"),
    ("relief", "joy", "+"),
    ("sadness", "sadness", "-"),
    ("shame", "sadness", "-"),
    ("suffering", "sadness", "-"),
    ("surprise", "surprise", "+"),
    ("sympathy", "sadness", "-"),
    ("zest", "joy", "+"),
)
"""(fine, level-2, level-1) per fine id, the order of ``category.txt``."""

FINE_NAMES: tuple[str, ...] = tuple(f for f, _, _ in FINE)
SAD_GROUP: tuple[str, ...] = tuple(f for f, level2, _ in FINE if level2 == "sadness")
FOLDERS = ("sad", "not_sad")
_ENTRY = re.compile(r"\(\s*['\"]([^'\"]+)['\"]\s*,\s*['\"]([^'\"]+)['\"]\s*,\s*['\"]([+-])['\"]")


def id_table(
    sad_labels: Sequence[str] | None = None, not_sad_labels: Sequence[str] | None = None
) -> dict[str, str | None]:
    """Fine id → sad / not_sad / None (left out), plus the two folder names of the folder form."""
    sad = _names("sad_labels", SAD_GROUP if sad_labels is None else sad_labels)
    rest = [f for f in FINE_NAMES if f not in sad]
    not_sad = _names("not_sad_labels", rest if not_sad_labels is None else not_sad_labels)
    both = sorted(set(sad) & set(not_sad))
    if both:
        raise ConfigError(f"webemo: {', '.join(both)} both in sad_labels and not_sad_labels")
    if not sad or not not_sad:
        raise ConfigError("webemo: sad_labels and not_sad_labels must each name a fine label")
    table: dict[str, str | None] = {}
    for i, fine in enumerate(FINE_NAMES):
        table[str(i)] = "sad" if fine in sad else "not_sad" if fine in not_sad else None
    return table | {f: f for f in FOLDERS}


def _names(what: str, names: Sequence[str]) -> list[str]:
    if isinstance(names, str):
        raise ConfigError(f"webemo: {what} must be a list of fine labels, got {names!r}")
    unknown = [n for n in names if n not in FINE_NAMES]
    if unknown:
        raise ConfigError(
            f"webemo: {what} names unknown fine label(s) {unknown}; known: {', '.join(FINE_NAMES)}"
        )
    return list(names)


class WebEmo(OfficialRelease):
    name = "webemo"
    class_names = SADNESS2
    ids = id_table()
    markers = (LISTS["train"], *FOLDERS)
    hint = (
        "WEBEmo's URL lists are given out by its authors (Panda et al., ECCV 2018); put "
        "train25.txt and test25.txt in {dir} and the downloaded images in {dir}/<split>/<fine "
        "id>/<file name of the URL>, or the sadness subset as {dir}/sad/ and {dir}/not_sad/"
    )
    fixed_split = FixedSplit({"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)

    def __init__(
        self,
        root: str | Path,
        sad_labels: Sequence[str] | None = None,
        not_sad_labels: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.ids = id_table(
            None if sad_labels is None else list(sad_labels),
            None if not_sad_labels is None else list(not_sad_labels),
        )
        super().__init__(root, **kwargs)

    @property
    def _lists(self) -> bool:
        """True: the authors' URL lists; False: the sad/ and not_sad/ folders."""
        return (self.release / LISTS["train"]).is_file()

    def label_files(self) -> list[Path]:
        if not self._lists:
            return []
        files = [self.release / f for f in LISTS.values()]
        categories = self.release / CATEGORIES
        return files + ([categories] if categories.is_file() else [])

    def items(self) -> Iterable[Item]:
        if self._lists:
            self._check_categories()
            for split, name in LISTS.items():
                yield from self._list_items(split, self.release / name)
        else:
            yield from self._folder_items()

    def _list_items(self, split: str, path: Path) -> Iterator[Item]:
        for line, text in read_lines(path):
            where = f"{path}:{line}"
            fields = text.split()
            if len(fields) != 2:
                yield Problem(where, f"expected '<image URL> <fine id>', got {text!r}")
                continue
            url, fine = fields
            if not fine.isdigit():
                yield Problem(where, f"fine id {fine!r} is not a number (0-24)")
                continue
            file_name = url.rstrip("/").rsplit("/", 1)[-1]
            if not file_name or file_name in (".", ".."):
                yield Problem(where, f"no file name in URL {url!r}")
                continue
            image = self.release / split / fine / file_name
            if self.ids.get(fine) is not None and not image.exists():
                yield Excluded(f"listed URL not downloaded (no {split}/<fine id>/<file>)")
                continue
            yield Record(image, fine, where)

    def _check_categories(self) -> None:
        """The shipped ``category.txt``, when present, must list the fine labels in our order."""
        path = self.release / CATEGORIES
        if not path.is_file():
            return
        found = [m.group(1) for _, text in read_lines(path) for m in _ENTRY.finditer(text)]
        if not found:
            log.warning("%s: no ('fine', 'level-2', '+/-') entries found; not checked", path)
            return
        if tuple(found) != FINE_NAMES:
            raise DataError(
                f"{path}: fine labels {found} differ from WEBEmo's ({', '.join(FINE_NAMES)}); "
                "the fine ids of the lists would be read wrong"
            )

    def _folder_items(self) -> Iterator[Item]:
        folders: dict[str, Path] = {}
        with os.scandir(self.release) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if entry.name.startswith(".") or entry.name == CACHE_DIRNAME or not entry.is_dir():
                continue
            if entry.name not in FOLDERS:
                raise DataError(
                    f"{self.release}: unknown folder {entry.name!r}; the sadness subset has "
                    "sad/ and not_sad/ (or put train25.txt and test25.txt here)"
                )
            folders[entry.name] = Path(entry.path)
        missing = [f for f in FOLDERS if f not in folders]
        if missing:
            raise DataError(f"{self.release}: folder(s) missing: {', '.join(missing)}")
        for name in FOLDERS:
            for image in list_images(folders[name]):
                yield Record(image.path, name, str(image.path))
