"""Decode once: decoded splits are kept as uint8 ``.npy`` arrays beside their source.

A cache entry is trusted only when the fingerprint recorded with it matches the current source
(file size + mtime, or a hash of the image listing) and the decoding settings. Anything else,
including a damaged file, is treated as a miss and rebuilt, so a cache can never hide a change
on disk. Failures are never cached: a bad file fails on every run in ``error`` mode.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.base import ImageSet, OnBadSample, Split

log = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bump when decoding changes in a way the fingerprints cannot see (resampling, EXIF handling)."""

CACHE_DIRNAME = ".emotion_lab_cache"
"""Cache folder placed inside image roots; hidden so that folder listings skip it."""

_FILE_MODE = 0o644
"""Caches of a shared data folder are readable by everyone who can read the data (mkstemp: 0600)."""

PROGRESS_MIN_ITEMS = 2000
"""Below this many items decoding is quick enough that a progress bar is only noise."""


@dataclass(frozen=True)
class DecodedSplit:
    """What a cache file holds for one split, besides its fingerprint."""

    images: np.ndarray
    labels: np.ndarray
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)

    def image_set(self, classes: tuple[str, ...], source: str) -> ImageSet:
        """The split as loaders hand it out; dropped samples are warned about on every load,
        cache hits included, so the count is never lost."""
        if self.skipped:
            first = self.skip_reasons[0] if self.skip_reasons else "?"
            log.warning("skipped %d bad samples in %s (first: %s)", self.skipped, source, first)
        return ImageSet(
            images=self.images,
            labels=self.labels,
            classes=classes,
            source=source,
            skipped=self.skipped,
            skip_reasons=list(self.skip_reasons),
        )


def digest(*parts: Any) -> str:
    """Stable short hash of JSON-able parts (settings, listings) for cache names and keys."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """Size and mtime: cheap, and changes whenever the file is rewritten."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def cache_location(source: Path, default_dir: Path, override: Path | None) -> tuple[Path, str]:
    """Folder and file-name prefix of a source's cache files.

    Beside the source the folder already identifies it; in a shared ``override`` folder the
    prefix carries a hash of the source's absolute path so that sources never collide.
    """
    if override is None:
        return default_dir, ""
    tag = hashlib.sha1(str(source.resolve()).encode("utf-8")).hexdigest()[:8]
    return Path(override), f"{source.name}-{tag}-"


def read_cache(stem: Path, key: str) -> DecodedSplit | None:
    """The split cached at ``stem`` if it was built for exactly ``key``; None on a miss or damage.

    ``<stem>.json`` holds the key, labels and skip record and names the image array
    ``<stem>-<key hash>.npy``; the hash in the name ties the array to its key, so a hit is one
    small JSON read plus one ``np.load``.
    """
    index = read_json(_index_path(stem), key)
    if index is None:
        return None
    try:
        images = np.load(stem.parent / str(index["images"]), allow_pickle=False)
        labels = np.asarray(index["labels"], dtype=np.int64)
        skipped, reasons = int(index["skipped"]), [str(r) for r in index["skip_reasons"]]
    except (OSError, ValueError, KeyError, TypeError, EOFError) as err:
        log.debug("unreadable cache %s (%s); rebuilding", stem, err)
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != (len(images),):
        log.debug("malformed cache %s; rebuilding", stem)
        return None
    return DecodedSplit(images=images, labels=labels, skipped=skipped, skip_reasons=reasons)


def write_cache(stem: Path, key: str, split: DecodedSplit) -> bool:
    """Store ``split`` under ``stem`` (array first, index last, each atomically) and drop the
    arrays of older keys. A cache that cannot be written (read-only data folder, full disk)
    costs only speed: the problem is logged, False returned, and the run goes on.
    """
    images_name = f"{stem.name}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]}.npy"
    if not _atomic_write(
        stem.parent / images_name, lambda fh: np.save(fh, split.images, allow_pickle=False)
    ):
        return False
    index = {
        "images": images_name,
        "labels": split.labels.tolist(),
        "skipped": split.skipped,
        "skip_reasons": split.skip_reasons,
    }
    if not write_json(_index_path(stem), key, index):
        return False
    for old in stem.parent.glob(f"{glob.escape(stem.name)}-*.npy"):
        if old.name != images_name:
            with contextlib.suppress(OSError):
                old.unlink()
    return True


def read_json(path: Path, key: str) -> dict[str, Any] | None:
    """A small JSON cache file (an index, the splits a CSV holds) if it was written for ``key``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("key") != key:
        return None
    return data


def write_json(path: Path, key: str, payload: dict[str, Any]) -> bool:
    """Atomic counterpart of :func:`read_json`; failures only cost speed."""
    record = {"version": CACHE_VERSION, "key": key, **payload}
    return _atomic_write(path, lambda fh: fh.write(json.dumps(record).encode("utf-8")))


def _index_path(stem: Path) -> Path:
    return stem.with_name(stem.name + ".json")


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> bool:
    """Write through a temp file and rename, so no reader ever sees half a file."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        if hasattr(os, "fchmod"):  # not on Windows before Python 3.13
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError as err:
        log.warning("could not write cache %s (%s); the data will be decoded again", path, err)
        return False
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def progress(
    total: int, description: str, *, in_bytes: bool = False, min_total: int = PROGRESS_MIN_ITEMS
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a rich bar only for long jobs in a terminal.

    Logs and captured test output stay clean because nothing is drawn when stderr is not a TTY.
    ``in_bytes`` counts a file's bytes, for parsers that cannot know the row count in advance.
    """
    if total < min_total or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


MAX_SKIP_REASONS = 20
"""Reasons kept per split: enough to diagnose, bounded for huge broken sets."""


SPLITS: tuple[Split, ...] = ("train", "val", "test")


def check_split(split: str) -> Split:
    """Reject split names outside the three used everywhere, naming the bad one."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    return split  # type: ignore[return-value]


class BadSamples:
    """Bookkeeping for ``on_bad_sample``: raise at the first bad sample, or count and remember.

    Raising happens before anything is cached, which is what keeps errors repeatable.
    """

    def __init__(self, mode: str) -> None:
        if mode not in ("error", "skip"):
            raise ValueError(f"on_bad_sample must be 'error' or 'skip'; got {mode!r}")
        self.mode: OnBadSample = mode  # type: ignore[assignment]
        self.count = 0
        self.reasons: list[str] = []

    def report(self, message: str) -> None:
        if self.mode == "error":
            raise DataError(message)
        self.count += 1
        if len(self.reasons) < MAX_SKIP_REASONS:
            self.reasons.append(message)

    def plus(self, other: BadSamples) -> BadSamples:
        """This split's bad samples together with ones that belong to no split in particular."""
        merged = BadSamples(self.mode)
        merged.count = self.count + other.count
        merged.reasons = (other.reasons + self.reasons)[:MAX_SKIP_REASONS]
        return merged
