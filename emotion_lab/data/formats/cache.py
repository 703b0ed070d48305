"""Decode once: decoded splits are kept as uint8 ``.npy`` arrays beside their source.

A cache entry is trusted only when the fingerprint recorded with it matches the current source
(size, mtime, ctime and inode of the file, or a hash of the image listing) and the decoding
settings. Arrays are opened memory-mapped, so every process that trains on a data set (parallel
trials, DDP ranks) shares one copy through the page cache. Each array carries a content
checksum, verified whenever the array file changed since its last verification (a warm start
costs one ``stat``); a damaged or overwritten array is a miss and is rebuilt, so a cache can never
hide a change on disk. Failures are never cached: a bad file fails on every run in ``error`` mode.
Writes go through a temp file and a rename under a per-entry lock, so concurrent builders neither
corrupt an entry nor decode it twice; temp files left by killed writers are removed by the next.
The disk space of an array is reserved before anything is written through its memory map, so a
full disk is a failed write (one warning; the split is kept in memory) and never a SIGBUS. A
cache folder inside a data folder that is a link is refused, never followed.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion_lab import files
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.base import CacheRef, ImageSet, OnBadSample, Split
from emotion_lab.errors import ConfigError

try:  # POSIX; elsewhere concurrent builders each decode and the last rename wins
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

CACHE_VERSION = 2
"""Bump when decoding changes in a way the fingerprints cannot see (resampling, EXIF handling)."""

CACHE_DIRNAME = ".emotion_lab_cache"
"""Cache folder placed inside image roots; hidden so that folder listings skip it."""

PROGRESS_MIN_ITEMS = 2000
"""Below this many items decoding is quick enough that a progress bar is only noise."""

_CHECKSUM_CHUNK = 1 << 26

_ZERO_CHUNK = 1 << 24
"""Bytes written at a time where the file system cannot reserve space (no ``posix_fallocate``)."""

VERIFY_CHECKSUMS = True
"""Off only for the benchmark that measures what verification adds to a warm start."""


@dataclass(frozen=True)
class DecodedSplit:
    """What a cache file holds for one split, besides its fingerprint."""

    images: np.ndarray
    labels: np.ndarray
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    unassigned: int = 0
    ref: CacheRef | None = None

    def image_set(self, classes: tuple[str, ...], source: str) -> ImageSet:
        """The split as loaders hand it out; dropped samples are warned about on every load,
        cache hits included, so the count is never lost."""
        if self.skipped or self.unassigned:
            first = self.skip_reasons[0] if self.skip_reasons else "?"
            extra = f" and {self.unassigned} rows with no usable split" if self.unassigned else ""
            log.warning(
                "skipped %d bad samples in %s%s (first: %s)", self.skipped, source, extra, first
            )
        return ImageSet(
            images=self.images,
            labels=self.labels,
            classes=classes,
            source=source,
            skipped=self.skipped,
            skip_reasons=list(self.skip_reasons),
            unassigned=self.unassigned,
            cache=self.ref,
        )


def digest(*parts: Any) -> str:
    """Stable short hash of JSON-able parts (settings, listings) for cache names and keys."""
    return files.json_digest(parts)


def stat_fingerprint(st: os.stat_result) -> str:
    """Size, mtime, ctime and inode: a rewrite that restores the mtime (``cp -p``,
    ``rsync -t``) still changes the ctime, and a replacement file has a new inode."""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def file_fingerprint(path: Path) -> str:
    """:func:`stat_fingerprint` of ``path`` (symlinks followed)."""
    return stat_fingerprint(path.stat())


def cache_location(source: Path, default_dir: Path, override: Path | None) -> tuple[Path, str]:
    """Folder and file-name prefix of a source's cache files.

    Beside the source the folder already identifies it; in a shared ``override`` folder the
    prefix carries a hash of the source's absolute path so that sources never collide. A
    ``default_dir`` that is a link is refused (:func:`check_not_link`).
    """
    if override is None:
        return check_not_link(default_dir), ""
    tag = hashlib.sha1(str(source.resolve()).encode("utf-8")).hexdigest()[:8]
    return Path(override), f"{source.name}-{tag}-"


def check_not_link(folder: Path) -> Path:
    """``folder``, unless it is a symlink: a cache folder inside a data folder received from
    elsewhere must not lead elsewhere, where writing the cache would clean up (delete stale
    temp files), overwrite and fill someone else's folder."""
    if folder.is_symlink():
        try:
            target = f" (to {os.readlink(folder)})"
        except OSError:
            target = ""
        raise DataError(
            f"{folder}: the cache folder is a link{target}, which is never followed; remove "
            "the link (a real folder is made in its place) or set a cache folder "
            "(data.source.cache_dir)"
        )
    return folder


def reserved_memmap(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 ``.npy`` memory map of ``shape`` at ``path`` whose disk space is reserved
    before anything is written through it: a write into a sparse mapped file on a full disk
    kills the process with SIGBUS, while reserving fails with an ``OSError`` (ENOSPC) the
    caller can handle. ``path`` is the caller's to remove when this raises."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    try:
        reserve_space(path, int(out.offset))
    except BaseException:
        mapped = getattr(out, "_mmap", None)  # nothing was written through it: unmap now
        if mapped is not None:
            mapped.close()
        raise
    return out


def reserve_space(path: Path, start: int = 0) -> None:
    """Allocate the blocks of ``path`` (from ``start`` to its length) on disk: with
    ``posix_fallocate`` where the file system has it, else by writing zeros (the length the
    file already has, so the bytes are zeros anyway). Raises ``OSError`` (ENOSPC) when they do
    not fit."""
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size <= start:
            return
        fallocate = getattr(os, "posix_fallocate", None)
        if fallocate is not None:
            try:
                fallocate(fd, start, size - start)
                return
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
        zeros = bytes(min(_ZERO_CHUNK, size - start))
        for offset in range(start, size, len(zeros)):
            view = memoryview(zeros)[: min(len(zeros), size - offset)]
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
        os.fsync(fd)  # delayed allocation: a full disk must fail here, not at write-back
    finally:
        os.close(fd)


def no_space(err: BaseException) -> bool:
    """Whether ``err`` says the disk (or quota) is full."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def array_checksum(images: np.ndarray) -> str:
    """SHA-256 of the array's bytes (C order), read in chunks so a memory map stays unloaded."""
    flat = np.ascontiguousarray(images).reshape(-1)
    h = hashlib.sha256()
    for start in range(0, flat.size, _CHECKSUM_CHUNK):
        h.update(memoryview(flat[start : start + _CHECKSUM_CHUNK]))
    return h.hexdigest()


def read_cache(stem: Path, key: str) -> DecodedSplit | None:
    """The split cached at ``stem`` if it was built for exactly ``key``; None on a miss or damage.

    ``<stem>.json`` holds the key, labels, skip record, checksum and the fingerprint of the
    array file when it was last verified, and names the image array ``<stem>-<key hash>.npy``
    (the hash ties the array to its key). A hit is one small JSON read, one ``stat`` and one
    memory map; the checksum is recomputed only when the array file changed since.
    """
    index_path = _index_path(stem)
    index = read_json(index_path, key)
    if index is None:
        return None
    array_path = stem.parent / str(index.get("images"))
    try:
        images = np.load(array_path, mmap_mode="r", allow_pickle=False)
        fingerprint = file_fingerprint(array_path) if VERIFY_CHECKSUMS else None
        labels = np.asarray(index["labels"], dtype=np.int64)
        skipped, reasons = int(index["skipped"]), [str(r) for r in index["skip_reasons"]]
        unassigned, checksum = int(index["unassigned"]), str(index["checksum"])
    except (OSError, ValueError, KeyError, TypeError, EOFError) as err:
        log.debug("unreadable cache %s (%s); rebuilding", stem, err)
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != (len(images),):
        log.debug("malformed cache %s; rebuilding", stem)
        return None
    if VERIFY_CHECKSUMS and index.get("verified") != fingerprint:
        if array_checksum(images) != checksum:
            log.warning("cache %s does not match its checksum; decoding again", array_path)
            return None
        write_json(index_path, key, {**_payload(index), "verified": fingerprint})
    return DecodedSplit(
        images=images,
        labels=labels,
        skipped=skipped,
        skip_reasons=reasons,
        unassigned=unassigned,
        ref=CacheRef(stem, key),
    )


def write_cache(stem: Path, key: str, split: DecodedSplit) -> DecodedSplit:
    """Store ``split`` under ``stem`` and hand it back memory-mapped from there.

    See :func:`write_array_cache`; the in-memory split is returned when the cache cannot be
    written, so a read-only data folder costs only speed.
    """

    def fill(out: np.ndarray) -> None:
        step = max(1, _CHECKSUM_CHUNK // max(1, int(np.prod(split.images.shape[1:]))))
        for start in range(0, len(out), step):  # in slices: the source may be a file too
            out[start : start + step] = split.images[start : start + step]

    stored = write_array_cache(
        stem,
        key,
        split.images.shape,
        fill,
        split.labels,
        split.skipped,
        split.skip_reasons,
        split.unassigned,
    )
    return split if stored is None else stored


def write_array_cache(
    stem: Path,
    key: str,
    shape: tuple[int, ...],
    fill: Callable[[np.ndarray], None],
    labels: np.ndarray,
    skipped: int = 0,
    skip_reasons: list[str] | None = None,
    unassigned: int = 0,
) -> DecodedSplit | None:
    """Write a uint8 array of ``shape`` that ``fill`` writes into (a memory map of the temp
    file, so the array never has to fit in memory), then its index, each atomically; drop the
    arrays of older keys and return the entry memory-mapped. None when it cannot be written
    (read-only folder, full disk): the problem is logged and the run goes on.
    """
    images_name = f"{stem.name}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16]}.npy"
    array_path = stem.parent / images_name
    checksum: list[str] = []

    def write_array(tmp: Path) -> None:
        out = reserved_memmap(tmp, shape)  # a full disk fails here, never with SIGBUS in fill
        fill(out)
        out.flush()
        checksum.append(array_checksum(out))
        del out

    if not _atomic_write(array_path, write_array):
        return None
    try:
        fingerprint = file_fingerprint(array_path)
    except OSError as err:  # removed by a concurrent writer of another key
        log.warning("cache %s vanished after writing (%s)", array_path, err)
        return None
    payload = {
        "images": images_name,
        "labels": np.asarray(labels).tolist(),
        "skipped": skipped,
        "skip_reasons": list(skip_reasons or []),
        "unassigned": unassigned,
        "checksum": checksum[0],
        "verified": fingerprint,
    }
    if not write_json(_index_path(stem), key, payload):
        return None
    for old in stem.parent.glob(f"{glob.escape(stem.name)}-*.npy"):
        if old.name != images_name:
            with contextlib.suppress(OSError):
                old.unlink()
    return read_cache(stem, key)


@contextlib.contextmanager
def build_lock(stem: Path) -> Iterator[None]:
    """Hold ``<stem>.lock`` while an entry is looked up and built: a second process building
    the same entry waits, then finds it cached. Without a writable folder there is no lock
    (and no cache either), so nothing is serialised."""
    handle = None
    if fcntl is not None:
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(stem.with_name(stem.name + ".lock"), flags, 0o666)
            handle = os.fdopen(fd, "a+b")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError as err:
            log.debug("no build lock for %s (%s)", stem, err)
            if handle is not None:
                handle.close()
            handle = None
    try:
        yield
    finally:
        if handle is not None:
            handle.close()  # closing releases the lock


def cached_build(stem: Path, key: str, build: Callable[[], DecodedSplit]) -> DecodedSplit:
    """The entry at ``stem`` for ``key``, built (once across processes) and stored on a miss."""
    return locked_build(stem, key, lambda: write_cache(stem, key, build()))


def locked_build(stem: Path, key: str, make: Callable[[], DecodedSplit]) -> DecodedSplit:
    """The entry at ``stem`` for ``key``, or ``make()`` (which stores it) under the entry's
    lock: of processes that start together, one builds and the others then read its result."""
    data = read_cache(stem, key)
    if data is not None:
        return data
    with build_lock(stem):
        data = read_cache(stem, key)  # built by another process while this one waited
        return make() if data is None else data


@contextlib.contextmanager
def scratch_arrays(folder: Path, name: str) -> Iterator[Callable[[tuple[int, ...]], np.ndarray]]:
    """Yield ``allocate(shape)``: a uint8 array backed by a temp file in ``folder`` (page cache
    the kernel can write back, so decoding a split larger than memory works), in memory when
    the folder is not writable. The files go on exit; a killed process leaves them to
    :func:`emotion_lab.files.remove_stale_temps`."""
    made: list[Path] = []

    def allocate(shape: tuple[int, ...]) -> np.ndarray:
        tmp: Path | None = None
        try:
            tmp = files.temp_sibling(folder / name)
            made.append(tmp)
            return reserved_memmap(tmp, shape)  # space reserved: no SIGBUS on a full disk
        except OSError as err:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if no_space(err):
                log.warning(
                    "%s: no space left for a %d MB scratch file; decoding %s in memory",
                    folder,
                    int(np.prod(shape)) >> 20,
                    name,
                )
            else:
                log.debug("decoding %s in memory (%s)", name, err)
            return np.empty(shape, dtype=np.uint8)

    try:
        yield allocate
    finally:
        for tmp in made:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


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
    return _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record), encoding="utf-8"))


def _payload(index: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in index.items() if k not in ("version", "key")}


def _index_path(stem: Path) -> Path:
    return stem.with_name(stem.name + ".json")


def _atomic_write(path: Path, write: Callable[[Path], object]) -> bool:
    """``write`` a temp sibling of ``path`` and rename it over ``path``, so no reader ever sees
    half a file; the orphans of killed writers in that folder go first. A failure is logged and
    only costs speed (the data is decoded again next time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.remove_stale_temps(path.parent)
        with files.atomic_path(path) as tmp:
            write(tmp)
        return True
    except OSError as err:
        if no_space(err):
            log.warning(
                "could not write cache %s: no space left on device; the split is kept in "
                "memory and will be decoded again (free space or set a cache folder)",
                path,
            )
        else:
            log.warning("could not write cache %s (%s); the data will be decoded again", path, err)
        return False


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
            raise ConfigError(f"on_bad_sample must be 'error' or 'skip'; got {mode!r}")
        self.mode: OnBadSample = mode  # type: ignore[assignment]
        self.count = 0
        self.unassigned = 0
        self.reasons: list[str] = []

    def report(self, message: str) -> None:
        if self.mode == "error":
            raise DataError(message)
        self.count += 1
        if len(self.reasons) < MAX_SKIP_REASONS:
            self.reasons.append(message)

    def plus(self, other: BadSamples) -> BadSamples:
        """This split's bad samples, plus ``other``: rows that belong to no split in particular.
        Those count as ``unassigned``, not as this split's, so that they are counted once."""
        merged = BadSamples(self.mode)
        merged.count = self.count
        merged.unassigned = self.unassigned + other.count
        merged.reasons = (other.reasons + self.reasons)[:MAX_SKIP_REASONS]
        return merged
