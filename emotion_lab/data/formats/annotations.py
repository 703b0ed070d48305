"""Data sets described by an annotation file (``path,label,split`` rows), e.g. FI-8 or EmoSet.

The annotation file is the data set's definition, so a bad row anywhere fails every split in
``error`` mode. Images are decoded like image folders and cached under
``<annotation folder>/.emotion_lab_cache/<file name>-<split>-<settings>.*``.
Repeated rows are dropped with a warning; an image given two labels, or listed in two splits
(test images that are also training images), is an error unless ``allow_overlap`` is set. A
row whose path leaves the root (absolute, or climbing out with ``..``) is a bad sample unless
``allow_outside_root`` is set: an annotation file received from elsewhere must not make a run
read whatever the machine holds.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import ImageSet, Split
from emotion_lab.data.formats.cache import (
    SPLITS,
    BadSamples,
    check_split,
    digest,
    file_fingerprint,
)
from emotion_lab.data.formats.decode import (
    DEFAULT_MAX_PIXELS,
    check_channels,
    check_image_size,
    check_max_pixels,
    check_workers,
)
from emotion_lab.data.formats.folders import (
    DEFAULT_SPLIT_DIRS,
    CachedSplits,
    ImageFile,
    leaves_root,
    listing_digest,
)
from emotion_lab.data.formats.text import first_line, read_rows
from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("path", "label", "split")
SPLIT_NAMES: dict[str, Split] = {
    alias: split for split, aliases in DEFAULT_SPLIT_DIRS.items() for alias in aliases
}
"""Lower-cased split values accepted in the ``split`` column."""


@dataclass(frozen=True)
class _Row:
    line: int
    path: str
    label: int
    split: Split


@dataclass(frozen=True)
class _Parsed:
    rows: list[_Row]
    bad: dict[Split, BadSamples]  # rows that failed but whose split is known
    nowhere: BadSamples  # rows that failed before their split could be told
    listed: frozenset[Split]  # splits named by any row, good or bad


class AnnotationFile(CachedSplits):
    """CSV/TSV with a header holding ``path``, ``label`` and ``split`` (extra columns ignored).

    ``label`` is a class name (after ``class_aliases``; case-insensitive) or one of the set's
    own ids in ``ids`` (id → class name). A number is never read as a position in ``classes``:
    a set's ids rarely follow our class order (EmoSet's do not), so a numeric label without an
    id table is a bad row. ``split`` is train/val/test or a folder-style alias (``validation``...).
    Paths are relative to ``root`` (default: the annotation file's folder). Without ``classes``
    the class list is the sorted set of label names in the file. In skip mode each split also
    counts the rows that could not be given a split, since any of them might have been its own.
    """

    def __init__(
        self,
        path: str | Path,
        root: str | Path | None = None,
        image_size: int | None = None,
        channels: int = 3,
        on_bad_sample: str = "error",
        classes: Sequence[str] | None = None,
        class_aliases: Mapping[str, str] | None = None,
        hint: str | None = None,
        cache_dir: str | Path | None = None,
        decode_workers: int | None = None,
        allow_overlap: bool = False,
        ids: Mapping[str | int, str] | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        allow_outside_root: bool = False,
    ) -> None:
        self.path = Path(path)
        self.max_pixels = check_max_pixels(max_pixels)
        self.allow_outside_root = bool(allow_outside_root)
        self._ids = {str(k).strip(): str(v) for k, v in (ids or {}).items()}
        self.root = Path(root) if root is not None else self.path.parent
        self.image_size = check_image_size(image_size)
        self.channels = check_channels(channels)
        BadSamples(on_bad_sample)
        self.on_bad_sample = on_bad_sample
        self.hint = hint
        self.decode_workers = check_workers(decode_workers)
        self.allow_overlap = bool(allow_overlap)
        self._aliases = {k.casefold(): v for k, v in (class_aliases or {}).items()}
        self._memo: tuple[str, _Parsed] | None = None
        self._require_file()
        self.classes = self._classes(classes)
        unknown = sorted({v for v in self._ids.values() if v not in self.classes})
        if unknown:
            raise ConfigError(
                f"data.source.ids maps onto unknown class(es) {', '.join(unknown)} "
                f"(classes: {', '.join(self.classes)})"
            )
        self._place_cache(self.path, cache_dir, prefix=f"{self.path.name}-")
        self._settings = digest(
            "annotations",
            str(self.root.resolve()),
            self.image_size,
            self.channels,
            on_bad_sample,
            self.classes,
            sorted(self._aliases.items()),
            sorted(self._ids.items()),
        )

    def available_splits(self) -> tuple[Split, ...]:
        """Splits named by any row: a split whose rows are all bad is there, and fails to load
        with a message, instead of vanishing (and being cut from train)."""
        listed = self._parse().listed
        return tuple(s for s in SPLITS if s in listed)

    def load(self, split: Split) -> ImageSet:
        """Decoded ``split``; a cache hit costs parsing the file and one stat per image."""
        check_split(split)
        self._require_file()
        parsed = self._parse()
        bad = parsed.bad[split].plus(parsed.nowhere)
        files: list[ImageFile] = []
        labels: list[int] = []
        where: list[str] = []
        for row in parsed.rows:
            if row.split != split:
                continue
            image = self.root / row.path
            try:
                st = image.stat()
                if not stat.S_ISREG(st.st_mode):
                    raise IsADirectoryError(image)
            except OSError as err:
                what = "image not found"
                if getattr(err, "errno", None) == errno.ELOOP:
                    what = "image is a link that loops"
                bad.report(f"{self.path}:{row.line}: {what}: {image}")
                continue
            files.append(ImageFile.of(image, st))
            labels.append(row.label)
            where.append(f"{self.path}:{row.line}")
        if not files:
            why = f" (all {bad.count} skipped; first: {bad.reasons[0]})" if bad.count else ""
            raise DataError(f"{self.path}: no usable rows for split {split!r}{why}")
        key = ":".join(
            (self._settings, file_fingerprint(self.path), listing_digest(self.root, files, labels))
        )
        name = f"{self.path} ({split})"
        return self._decode_cached(
            split, key, files, labels, bad=bad, source=name, name=name, where=where
        )

    # -- internals ---------------------------------------------------------------------------

    def _require_file(self) -> None:
        if not self.path.is_file():
            where = f"; {self.hint}" if self.hint else ""
            raise DatasetNotFoundError(f"annotation file not found: {self.path}{where}")

    def _read(self) -> tuple[list[str], list[tuple[int, list[str]]]]:
        """Header (lower-cased) and non-blank rows with their 1-based line numbers."""
        rows = read_rows(self.path, delimiter=_delimiter(self.path, first_line(self.path)))
        _, header = next(rows, (1, None))
        if header is None:
            raise DataError(f"{self.path}:1: empty file; expected a header path,label,split")
        cols = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            raise DataError(
                f"{self.path}:1: header lacks column(s) {', '.join(missing)} "
                f"(found: {', '.join(header)})"
            )
        return cols, list(rows)

    def _infer_classes(self) -> tuple[str, ...]:
        cols, rows = self._read()
        i_label = cols.index("label")
        names: set[str] = set()
        for line, row in rows:
            if len(row) != len(cols):
                continue  # reported when the rows are parsed
            text = row[i_label].strip()
            if text in self._ids:
                names.add(self._ids[text])
                continue
            if _is_int(text):
                raise DataError(
                    f"{self.path}:{line}: label {text!r} is a number; give the set's id table "
                    "(data.source.ids) and its class list"
                )
            names.add(self._aliases.get(text.casefold(), text))
        if not names:
            raise DataError(f"{self.path}: no labelled rows")
        return tuple(sorted(names))

    def _parse(self) -> _Parsed:
        fingerprint = file_fingerprint(self.path)
        if self._memo is not None and self._memo[0] == fingerprint:
            return self._memo[1]
        cols, raw = self._read()
        i_path, i_label, i_split = (cols.index(c) for c in REQUIRED_COLUMNS)
        bad = {s: BadSamples(self.on_bad_sample) for s in SPLITS}
        nowhere = BadSamples(self.on_bad_sample)
        rows: list[_Row] = []
        listed: set[Split] = set()
        folded = [c.casefold() for c in self.classes]
        for line, row in raw:
            at = f"{self.path}:{line}"
            if len(row) != len(cols):
                nowhere.report(f"{at}: expected {len(cols)} columns, got {len(row)}")
                continue
            split_text = row[i_split].strip()
            split = SPLIT_NAMES.get(split_text.lower())
            if split is None:
                nowhere.report(f"{at}: unknown split {split_text!r} (expected train, val or test)")
                continue
            listed.add(split)
            path_text = row[i_path].strip()
            if not path_text:
                bad[split].report(f"{at}: empty image path")
                continue
            if not self.allow_outside_root and leaves_root(path_text):
                bad[split].report(
                    f"{at}: image path {path_text} leaves the data root {self.root}; fix the "
                    "file or set data.allow_outside_root=true to accept it"
                )
                continue
            text = row[i_label].strip()
            name = self._ids.get(text) or self._aliases.get(text.casefold(), text)
            if name in self.classes:
                label = self.classes.index(name)
            elif name.casefold() in folded:
                label = folded.index(name.casefold())
            elif _is_int(text):
                if self._ids:
                    known = ", ".join(f"{k} {v}" for k, v in self._ids.items())
                    bad[split].report(f"{at}: unknown label id {text!r} (ids: {known})")
                else:
                    bad[split].report(
                        f"{at}: label {text!r} is a number, and numbers are read only through "
                        "the set's own id table: give data.source.ids (e.g. {0: angry, ...})"
                    )
                continue
            else:
                bad[split].report(
                    f"{at}: unknown class {text!r} (classes: {', '.join(self.classes)})"
                )
                continue
            rows.append(_Row(line, path_text, label, split))
        parsed = _Parsed(self._check_overlap(rows), bad, nowhere, frozenset(listed))
        self._memo = (fingerprint, parsed)
        return parsed

    def _check_overlap(self, rows: list[_Row]) -> list[_Row]:
        """Drop repeated rows (warning with their count); an image with two labels or in two
        splits is an error naming both lines, unless ``allow_overlap`` accepts it."""
        first: dict[str, _Row] = {}
        kept: list[_Row] = []
        repeats: list[_Row] = []
        for row in rows:
            image = os.path.normpath(row.path)
            seen = first.setdefault(image, row)
            if seen is row:
                kept.append(row)
            elif (seen.label, seen.split) == (row.label, row.split):
                repeats.append(row)
            elif not self.allow_overlap:
                if seen.label != row.label:
                    what = (
                        f"labelled {self.classes[row.label]!r} but "
                        f"{self.classes[seen.label]!r} at line {seen.line}"
                    )
                else:
                    what = f"in split {row.split!r} but also in {seen.split!r} at line {seen.line}"
                raise DataError(
                    f"{self.path}:{row.line}: image {row.path} is {what}; fix the file or set "
                    "data.allow_overlap=true to accept it"
                )
            else:
                kept.append(row)
        if repeats:
            log.warning(
                "%s: dropped %d repeated row(s) (first: line %d, %s)",
                self.path,
                len(repeats),
                repeats[0].line,
                repeats[0].path,
            )
        return kept


def _delimiter(path: Path, header_line: str) -> str:
    """By suffix when it says (``.csv``/``.tsv``), else whichever separator the header uses."""
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):
        return "\t"
    if suffix == ".csv":
        return ","
    for sep in ("\t", ",", ";"):
        if sep in header_line:
            return sep
    return ","


def _is_int(text: str) -> bool:
    return text.lstrip("-").isascii() and text.lstrip("-").isdigit()
