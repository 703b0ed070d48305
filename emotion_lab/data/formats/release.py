"""A data set read from its official release as unpacked: the base every set's reader extends.

A reader (one module per set in :mod:`emotion_lab.data.sets`) only says where its release keeps
its files and turns the release's own label files into :class:`Record`\\ s: image, the set's own
label id, official split, face box. Everything else is done once, here, the same for every set:

- the release folder is found under ``<data_dir>/<set>/`` with or without the archive's own top
  folder (RAF-DB's ``basic/``, ExpW's ``data/``);
- label ids go through the set's published id table (:attr:`OfficialRelease.ids`), never by
  position; an id outside it is a bad sample naming file and line, and ids the protocol leaves
  out (AffectNet's 8-10) are counted, not trained on;
- a repeated or conflicting row, a missing image, a face box outside its image, an image
  outside the release folder (a label file naming ``../x`` or ``/x``; unless
  ``data.allow_outside_root``) are bad samples (``data.on_bad_sample``: a one-line error, or
  skipped and counted per split);
- sets without an official split get a fixed, stratified, seeded one (:mod:`..splits`),
  written beside the cache with its digest;
- faces are cropped at decode, with ``data.crop.margin`` and ``data.resize``, into the cache.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from emotion_lab.data.crops import Box, check_margin, check_resize
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import ImageSet, Split
from emotion_lab.data.formats.cache import (
    CACHE_DIRNAME,
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
    CachedSplits,
    ImageFile,
    ImageFolders,
    leaves_root,
    listing_digest,
)
from emotion_lab.data.splits import FixedSplit, assign, split_digest, write_split_list
from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)

LOCATE_DEPTH = 2
"""How many folder levels below ``<data_dir>/<set>`` the release's top folder may sit."""


@dataclass(frozen=True)
class Record:
    """One sample as a release lists it. ``label`` is the set's own id as written; ``key``
    names the sample uniquely in the release (default: the image path relative to it)."""

    path: Path
    label: str
    where: str
    split: Split | None = None
    box: Box | None = None
    key: str = ""


@dataclass(frozen=True)
class Problem:
    """A row the reader could not turn into a record (too few fields, a bad number...);
    ``split`` when the row's split is known, so that it is counted there."""

    where: str
    message: str
    split: Split | None = None


@dataclass(frozen=True)
class Excluded:
    """A well-formed row the protocol leaves out (e.g. a box below the confidence filter)."""

    reason: str


Item = Record | Problem | Excluded


@dataclass(frozen=True)
class _Sample:
    path: Path
    label: int
    where: str
    split: Split
    box: Box | None
    key: str


@dataclass
class _Listing:
    samples: list[_Sample]
    bad: dict[Split, BadSamples]
    nowhere: BadSamples
    excluded: Counter[str]
    split_digest: str | None = None
    split_file: Path | None = None
    counts: dict[Split, list[int]] = field(default_factory=dict)


def locate_release(root: Path, markers: Sequence[str], hint: str) -> Path:
    """The folder under ``root`` (itself, or up to :data:`LOCATE_DEPTH` levels down: the
    archive's own top folder) that holds any of ``markers``; a one-line error otherwise."""
    level = [root]
    for _ in range(LOCATE_DEPTH + 1):
        hits = sorted({d for d in level for m in markers if (d / m).exists()})
        if len(hits) > 1:
            raise DataError(
                f"{root}: more than one release of the set ({', '.join(map(str, hits))}); keep one"
            )
        if hits:
            return hits[0]
        level = [
            Path(e.path)
            for d in level
            for e in sorted(_entries(d), key=lambda e: e.name)
            if e.is_dir() and not e.name.startswith(".") and e.name != CACHE_DIRNAME
        ]
    wanted = " or ".join(markers)
    if not root.exists():
        raise DatasetNotFoundError(f"data set folder not found: {root}; {hint}")
    raise DatasetNotFoundError(f"{root}: no {wanted} in it or its subfolders; {hint}")


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


class OfficialRelease(CachedSplits):
    """Base of every set's reader; subclasses set the class attributes and :meth:`items`.

    ``root`` is ``<data_dir>/<set>``; the release is looked for in it (see
    :func:`locate_release`). ``resize`` and ``margin`` are ``data.resize`` and
    ``data.crop.margin``; ``max_pixels`` and ``allow_outside_root`` are the data-level keys of
    those names.
    """

    name: ClassVar[str]
    """The set's name in configs and messages."""
    class_names: ClassVar[tuple[str, ...]]
    """Class order of the labels the model learns."""
    ids: ClassVar[Mapping[str, str | None]]
    """The set's own label id (as written in its files) → class name; None: left out."""
    markers: ClassVar[tuple[str, ...]]
    """Paths relative to the release folder that identify it (any one suffices)."""
    hint: ClassVar[str]
    """Where to get the set and how to unpack it; ``{dir}`` is ``root``."""
    fixed_split: ClassVar[FixedSplit | None] = None
    """The split to make when the release has none."""
    split_note: ClassVar[str] = "official"
    """What the release's own splits are, in words, for the summary."""

    def __init__(
        self,
        root: str | Path,
        image_size: int | None = None,
        channels: int = 3,
        on_bad_sample: str = "error",
        cache_dir: str | Path | None = None,
        decode_workers: int | None = None,
        resize: str = "stretch",
        margin: float = 0.0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        allow_outside_root: bool = False,
    ) -> None:
        self.root = Path(root)
        self.max_pixels = check_max_pixels(max_pixels)
        self.allow_outside_root = bool(allow_outside_root)
        self.image_size = check_image_size(image_size)
        self.channels = check_channels(channels)
        BadSamples(on_bad_sample)
        self.on_bad_sample = on_bad_sample
        self.decode_workers = check_workers(decode_workers)
        self.resize = check_resize(resize)
        self.margin = check_margin(margin)
        self.classes: tuple[str, ...] = tuple(self.class_names)
        unknown = sorted({c for c in self.ids.values() if c is not None} - set(self.classes))
        if unknown:
            raise ConfigError(f"{self.name}: id table names unknown class(es) {unknown}")
        self.release = locate_release(self.root, self.markers, self.hint.format(dir=self.root))
        self._place_cache(self.release, cache_dir)
        self._prefix += f"{self.name}-"
        self._memo: tuple[str, _Listing] | None = None

    # -- what a set's reader provides ----------------------------------------------------------

    def items(self) -> Iterable[Item]:
        """The release's samples, as its label files list them."""
        raise NotImplementedError

    def label_files(self) -> list[Path]:
        """Files whose change changes the listing (label lists, split lists)."""
        return []

    def settings(self) -> tuple[Any, ...]:
        """The reader's own options that change what is decoded (e.g. which image version)."""
        return ()

    # -- the DataSource protocol ---------------------------------------------------------------

    @property
    def _settings(self) -> str:  # type: ignore[override]
        return digest(
            "release",
            self.name,
            str(self.release.resolve()),
            self.image_size,
            self.channels,
            self.on_bad_sample,
            self.classes,
            sorted((k, v) for k, v in self.ids.items()),
            self.resize,
            self.margin,
            self.settings(),
        )

    def available_splits(self) -> tuple[Split, ...]:
        listing = self._listing()
        present = {s.split for s in listing.samples} | {
            s for s, b in listing.bad.items() if b.count
        }
        return tuple(s for s in SPLITS if s in present)

    def load(self, split: Split) -> ImageSet:
        check_split(split)
        listing = self._listing()
        bad = listing.bad[split].plus(listing.nowhere)
        found: list[ImageFile] = []
        labels: list[int] = []
        where: list[str] = []
        boxes: list[Box | None] = []
        for sample in listing.samples:
            if sample.split != split:
                continue
            try:
                st = sample.path.stat()
                if not stat.S_ISREG(st.st_mode):
                    raise IsADirectoryError(sample.path)
            except OSError as err:
                what = "not a file" if isinstance(err, IsADirectoryError) else "image not found"
                if getattr(err, "errno", None) == errno.ELOOP:
                    what = "image is a link that loops"
                bad.report(f"{sample.where}: {what}: {sample.path}")
                continue
            found.append(ImageFile.of(sample.path, st))
            labels.append(sample.label)
            where.append(sample.where)
            boxes.append(sample.box)
        if not found:
            why = f" (all {bad.count} skipped; first: {bad.reasons[0]})" if bad.count else ""
            raise DataError(f"{self.release}: no usable samples for split {split!r}{why}")
        h = hashlib.sha1()
        for box in boxes:
            h.update(repr(None if box is None else box.as_list()).encode())
        key = ":".join(
            (
                self._settings,
                self._fingerprint(),
                listing_digest(self.release, found, labels),
                h.hexdigest()[:16],
            )
        )
        name = f"{self.name} ({split})"
        return self._decode_cached(
            split,
            key,
            found,
            labels,
            bad=bad,
            source=f"{self.release} ({split})",
            name=name,
            where=where,
            boxes=boxes,
        )

    # -- what the summary and `python -m emotion_lab.data` show --------------------------------

    def describe(self) -> dict[str, Any]:
        """The set as read: release folder, id table, split policy and what was left out."""
        listing = self._listing()
        out: dict[str, Any] = {
            "set": self.name,
            "release": str(self.release),
            "ids": {k: (v if v is not None else "(left out)") for k, v in self.ids.items()},
            "resize": self.resize,
            "crop_margin": self.margin,
        }
        if self.fixed_split is not None:
            out["split"] = f"fixed: {self.fixed_split.describe()}"
            out["split_digest"] = listing.split_digest
            if listing.split_file is not None:
                out["split_file"] = str(listing.split_file)
        else:
            out["split"] = self.split_note
        if listing.excluded:
            out["left_out"] = dict(sorted(listing.excluded.items()))
        return out

    # -- internals -----------------------------------------------------------------------------

    def _fingerprint(self) -> str:
        """The label files' fingerprints; a missing one is reported when the reader opens it."""
        parts = []
        for path in self.label_files():
            try:
                parts.append(file_fingerprint(path))
            except OSError:
                parts.append("missing")
        return ",".join(parts)

    def _listing(self) -> _Listing:
        fingerprint = self._fingerprint()
        if self._memo is not None and self._memo[0] == fingerprint:
            return self._memo[1]
        listing = self._parse()
        self._memo = (fingerprint, listing)
        return listing

    def _parse(self) -> _Listing:
        bad = {s: BadSamples(self.on_bad_sample) for s in SPLITS}
        nowhere = BadSamples(self.on_bad_sample)
        excluded: Counter[str] = Counter()
        table = {str(k): v for k, v in self.ids.items()}
        folded = {k.casefold(): v for k, v in table.items()}
        known = ", ".join(f"{k} {v}" for k, v in table.items() if v is not None)
        first: dict[str, tuple[Record, int]] = {}
        kept: list[tuple[Record, int]] = []
        for item in self.items():
            if isinstance(item, Excluded):
                excluded[item.reason] += 1
                continue
            if isinstance(item, Problem):
                (bad[item.split] if item.split else nowhere).report(f"{item.where}: {item.message}")
                continue
            sink = bad[item.split] if item.split else nowhere
            if not self.allow_outside_root and leaves_root(
                os.path.relpath(item.path, self.release)
            ):
                sink.report(
                    f"{item.where}: image {item.path} lies outside the release folder "
                    f"{self.release}; fix the file or set data.allow_outside_root=true to "
                    "accept it"
                )
                continue
            label_text = item.label.strip()
            if label_text in table:
                name = table[label_text]
            elif label_text.casefold() in folded:
                name = folded[label_text.casefold()]
            else:
                sink.report(
                    f"{item.where}: unknown label id {label_text!r} ({self.name} ids: {known})"
                )
                continue
            if name is None:
                excluded[f"id {label_text} (not in the {len(self.classes)}-class protocol)"] += 1
                continue
            label = self.classes.index(name)
            record = item if item.key else _with_key(item, self.release)
            seen = first.get(record.key)
            if seen is not None:
                other, other_label = seen
                if (other_label, other.split) == (label, record.split):
                    what = "repeats"
                elif other_label != label:
                    what = f"labels it {name!r}, conflicting with {self.classes[other_label]!r} at"
                else:
                    what = f"puts it in {record.split!r}, conflicting with {other.split!r} at"
                sink.report(f"{record.where}: {record.key}: {what} {other.where}")
                continue
            first[record.key] = (record, label)
            kept.append((record, label))
        listing = _Listing([], bad, nowhere, excluded)
        if self.fixed_split is not None:
            keys = [r.key for r, _ in kept]
            labels = [lab for _, lab in kept]
            splits = assign(keys, labels, self.fixed_split)
            listing.split_digest = split_digest(keys, splits)
            path = self._cache_dir / f"{self._prefix}split-{listing.split_digest}.tsv"
            if path.is_file() or write_split_list(path, keys, splits):
                listing.split_file = path
        else:
            splits = [r.split for r, _ in kept]  # type: ignore[misc]
        for (record, label), split in zip(kept, splits, strict=True):
            if split is None:
                raise DataError(f"{record.where}: {self.name} row has no split")
            listing.samples.append(
                _Sample(record.path, label, record.where, split, record.box, record.key)
            )
        if not listing.samples and not any(b.count for b in bad.values()) and not nowhere.count:
            raise DataError(f"{self.release}: the release lists no samples")
        return listing


def _with_key(record: Record, release: Path) -> Record:
    key = os.path.relpath(record.path, release)
    return Record(record.path, record.label, record.where, record.split, record.box, key)


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line of a text label file; bad encoding and a
    missing file are one-line errors naming it."""
    from emotion_lab.data.formats.text import check_not_compressed

    if not path.is_file():
        raise DatasetNotFoundError(f"label file not found: {path}")
    check_not_compressed(path)
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    yield number, line.rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


class FolderRelease(ImageFolders):
    """A set released as class folders per split (CAER-S, the face-expression set): its
    class attributes say where the release is and how its folders map; found under ``root``
    like every release (its archive's top folder kept or not)."""

    name: ClassVar[str]
    class_names: ClassVar[tuple[str, ...]]
    ids: ClassVar[Mapping[str, str]]
    """Class folder → class name (matched case-insensitively)."""
    split_dirs: ClassVar[Mapping[str, tuple[str, ...]]]
    markers: ClassVar[tuple[str, ...]]
    hint: ClassVar[str]
    split_note: ClassVar[str]

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
        hint = self.hint.format(dir=root)
        self.release = locate_release(Path(root), self.markers, hint)
        super().__init__(
            self.release,
            image_size=image_size,
            channels=channels,
            on_bad_sample=on_bad_sample,
            split_dirs=self.split_dirs,
            classes=self.class_names,
            class_aliases=self.ids,
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
            "ids": {f"folder {k}": v for k, v in self.ids.items()},
            "resize": self.resize,
            "split": self.split_note,
        }
