"""Image-folder data sets, ``<root>/<split>/<class>/<image>``, and the image decoding they share.

Every split is decoded once with PIL (converted to ``L``/``RGB``, optionally resized with
Lanczos) into one uint8 array and cached under ``<root>/.emotion_lab_cache/``. The cache key
includes a hash of the listing (relative path, size, mtime, ctime and inode of every image), so
adding, removing or rewriting any image invalidates it. First-time decoding runs in a pool of
processes (``decode_workers``, default: every core); the result is the same bit for bit.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps

from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import ImageSet, Split
from emotion_lab.data.formats.cache import (
    CACHE_DIRNAME,
    SPLITS,
    BadSamples,
    DecodedSplit,
    cache_location,
    check_split,
    digest,
    locked_build,
    progress,
    scratch_arrays,
    write_cache,
)

log = logging.getLogger(__name__)

DEFAULT_SPLIT_DIRS: dict[Split, tuple[str, ...]] = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation", "publictest"),
    "test": ("test", "privatetest"),
}
"""Folder names accepted for each split, compared case-insensitively (``Train`` = ``train``)."""

DECODE_CHUNK = 64
"""Images per pool task: big enough to amortise the hand-over, small enough to stop fast."""

_OUTPUT: np.ndarray | None = None
"""The array being decoded into, in shared memory: forked workers write their images straight
into it (no pickling of pixels); spawned workers, which do not inherit it, send them back."""


@cache
def image_extensions() -> frozenset[str]:
    """Every suffix PIL can open; other files (``Thumbs.db``, ``README``) are not samples."""
    return frozenset(ext.lower() for ext in Image.registered_extensions())


@dataclass(frozen=True)
class ImageFile:
    """One listed image; its stat fields feed the cache key (size -1: a dangling link)."""

    path: Path
    size: int
    mtime_ns: int
    ctime_ns: int = 0
    inode: int = 0

    @classmethod
    def of(cls, path: Path, st: os.stat_result) -> ImageFile:
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def scan_folder(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder``; an unreadable folder is a one-line error naming it."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except PermissionError:
        raise DataError(f"{folder}: cannot read folder (permission denied)") from None
    except OSError as err:
        raise DataError(f"{folder}: cannot read folder ({err.strerror or err})") from None


def list_images(folder: Path) -> list[ImageFile]:
    """Image files under ``folder`` (recursively), sorted, skipping hidden names and caches.

    Folder links are followed once: a link back to a folder already listed (a loop such as
    ``dir -> ..``, or a second way into the same images) is an error naming the link. A link
    whose target is missing stays in the listing, so that decoding reports it as a bad sample.
    """
    found: list[ImageFile] = []
    stack = [folder]
    visited: set[tuple[int, int]] = set()
    exts = image_extensions()
    while stack:
        current = stack.pop()
        st = current.stat()
        if (st.st_dev, st.st_ino) in visited:
            raise DataError(
                f"{current}: links to {os.path.realpath(current)}, a folder already listed "
                "(a link loop or a second path to the same images); remove the link"
            )
        visited.add((st.st_dev, st.st_ino))
        for entry in scan_folder(current):
            if entry.name.startswith(".") or entry.name == CACHE_DIRNAME:
                continue
            is_image = os.path.splitext(entry.name)[1].lower() in exts
            if entry.is_dir():
                stack.append(Path(entry.path))
            elif entry.is_file():
                if is_image:
                    found.append(ImageFile.of(Path(entry.path), entry.stat()))
            elif entry.is_symlink() and not os.path.exists(entry.path):
                if is_image:
                    found.append(ImageFile(Path(entry.path), -1, 0))
                else:
                    log.warning("%s: ignoring a link whose target is missing or loops", entry.path)
    found.sort(key=lambda f: f.path)
    return found


def listing_digest(root: Path, files: Sequence[ImageFile], labels: Sequence[int]) -> str:
    """Hash of what a split is made of; any added, removed, rewritten or relabelled image changes it."""
    h = hashlib.sha1()
    for f, label in zip(files, labels, strict=True):
        rel = os.path.relpath(f.path, root)
        h.update(f"{rel}\t{f.size}\t{f.mtime_ns}\t{f.ctime_ns}\t{f.inode}\t{label}\n".encode())
    return h.hexdigest()[:16]


def default_workers() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_workers(decode_workers: int | None) -> int:
    """``data.decode_workers``: a positive count, or None/0 for every core."""
    if decode_workers is None or decode_workers == 0:
        return default_workers()
    if (
        not isinstance(decode_workers, int)
        or isinstance(decode_workers, bool)
        or decode_workers < 0
    ):
        raise ValueError(
            f"data.decode_workers must be a positive integer, 0 or null (all cores); "
            f"got {decode_workers!r}"
        )
    return decode_workers


def decode_images_cached(
    cache_file: Path,
    key: str,
    files: Sequence[ImageFile],
    labels: Sequence[int],
    **decode: Any,
) -> DecodedSplit:
    """The decoded split from ``cache_file`` when its ``key`` still matches, else decoded by
    :func:`decode_images` (``decode`` are its keyword arguments) and cached for the next run;
    concurrent processes decode it once, into a file beside the cache rather than memory."""

    def make() -> DecodedSplit:
        with scratch_arrays(cache_file.parent, cache_file.name) as allocate:
            data = decode_images([f.path for f in files], labels, allocate=allocate, **decode)
            return write_cache(cache_file, key, data)

    return locked_build(cache_file, key, make)


def decode_images(
    paths: Sequence[Path],
    labels: Sequence[int],
    *,
    image_size: int | None,
    channels: int,
    bad: BadSamples,
    source: str,
    where: Sequence[str] | None = None,
    decode_workers: int | None = None,
    allocate: Callable[[tuple[int, ...]], np.ndarray] | None = None,
) -> DecodedSplit:
    """Decode ``paths`` into one N×H×W×C uint8 array, chunks of images in parallel processes.

    Without ``image_size`` every image must have the size of the first one. ``where`` gives a
    per-image prefix for messages (e.g. ``file:row``); otherwise messages start with the path.
    Results are taken in listing order, so in error mode the first bad image is the one raised
    (and pending chunks are cancelled), and the array does not depend on the worker count.
    ``allocate(shape)`` provides the output (e.g. a file-backed memory map, which forked
    workers write into directly); skipped images are then squeezed out in place.
    """
    n = len(paths)
    mode = "L" if channels == 1 else "RGB"
    ok = np.ones(n, dtype=bool)

    def message(i: int, what: str) -> str:
        return f"{paths[i]}: {what}" if where is None else f"{where[i]}: {paths[i]}: {what}"

    # the first decodable image fixes the output shape (it is the resize target if one is given)
    first = 0
    ref: np.ndarray | None = None
    while first < n and ref is None:
        try:
            ref = decode_image(paths[first], mode, image_size)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files
            ok[first] = False
            bad.report(message(first, _decode_problem(paths[first], err)))
        first += 1
    if ref is None:
        first_reason = f" (first: {bad.reasons[0]})" if bad.reasons else ""
        raise DataError(f"{source}: none of the {n} images could be decoded{first_reason}")
    workers = min(check_workers(decode_workers), -(-(n - first) // DECODE_CHUNK))
    shape = (n, *ref.shape)
    if allocate is not None:
        out = allocate(shape)
    elif workers > 1 and _START_METHOD == "fork":
        shared = mmap.mmap(-1, max(1, int(np.prod(shape))))  # MAP_SHARED: seen by forked workers
        out = np.frombuffer(shared, dtype=np.uint8, count=int(np.prod(shape))).reshape(shape)
    else:
        out = np.empty(shape, dtype=np.uint8)
    out[first - 1] = ref
    ref_h, ref_w = ref.shape[:2]
    mismatch = f"but {paths[first - 1]} is {ref_w}×{ref_h}; set image_size to resize all images"
    bounds = [(i, min(i + DECODE_CHUNK, n)) for i in range(first, n, DECODE_CHUNK)]
    tasks = [
        (lo, [str(p) for p in paths[lo:hi]], mode, image_size, ref.shape, mismatch)
        for lo, hi in bounds
    ]
    global _OUTPUT
    _OUTPUT = out
    try:
        with progress(n, f"decoding {source}") as advance, _pool(workers) as pool:
            advance(first)
            results = pool.map(_decode_chunk, *zip(*tasks, strict=True)) if tasks else iter(())
            for (lo, hi), (arrays, problems) in zip(bounds, results, strict=True):
                if arrays is not None:
                    out[lo:hi] = arrays
                for offset, what in problems:
                    ok[lo + offset] = False
                    bad.report(message(lo + offset, what))  # raises in error mode
                advance(hi - lo)
    finally:
        _OUTPUT = None
    y = np.asarray(labels, dtype=np.int64)
    if not ok.all():
        out, y = _squeeze(out, ok), y[ok]
    return DecodedSplit(
        images=out,
        labels=y,
        skipped=bad.count,
        skip_reasons=bad.reasons,
        unassigned=bad.unassigned,
    )


def _squeeze(out: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``out[ok]`` in place, block by block (rows only move down), as a view of ``out``."""
    keep = np.flatnonzero(ok)
    for start in range(0, len(keep), DECODE_CHUNK):
        block = keep[start : start + DECODE_CHUNK]
        out[start : start + len(block)] = out[block]  # the fancy read copies the block first
    return out[: len(keep)]


class _InProcess(Executor):
    """One worker: decode here, lazily, so an error stops the work at once."""

    def map(self, fn, *iterables, timeout=None, chunksize=1):  # type: ignore[no-untyped-def,override]
        return map(fn, *iterables)


_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
"""Fork where the platform has it: workers need only PIL and numpy (and the shared output),
while a spawned worker would re-import the whole training entry point."""


@contextmanager
def _pool(workers: int) -> Iterator[Executor]:
    """``workers`` processes, or this process alone for one."""
    if workers <= 1:
        yield _InProcess()
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(_START_METHOD))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _decode_chunk(
    lo: int,
    paths: list[str],
    mode: str,
    image_size: int | None,
    shape: tuple[int, ...],
    mismatch: str,
) -> tuple[np.ndarray | None, list[tuple[int, str]]]:
    """Pool task: (offset, problem) pairs, and the chunk's images (zeros where one failed)
    unless they went straight into the shared output (then None)."""
    out = (
        _OUTPUT[lo : lo + len(paths)]
        if _OUTPUT is not None
        else np.zeros((len(paths), *shape), dtype=np.uint8)
    )
    problems: list[tuple[int, str]] = []
    for offset, name in enumerate(paths):
        try:
            arr = decode_image(Path(name), mode, image_size)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files
            problems.append((offset, _decode_problem(Path(name), err)))
            continue
        if arr.shape != shape:
            problems.append((offset, f"image is {arr.shape[1]}×{arr.shape[0]} {mismatch}"))
            continue
        out[offset] = arr
    return (None if _OUTPUT is not None else out), problems


def _decode_problem(path: Path, err: Exception) -> str:
    if isinstance(err, FileNotFoundError) and path.is_symlink():
        return f"dangling link (its target {os.readlink(path)} is missing)"
    return f"cannot decode image ({type(err).__name__}: {err})"


def decode_image(path: Path, mode: str, image_size: int | None) -> np.ndarray:
    """One image as H×W×C uint8: upright per EXIF, converted to ``mode``, Lanczos-resized."""
    with Image.open(path) as im:
        img = _upright(im)
        if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
            img = _sixteen_bit_to_l(img)
        if img.mode != mode:
            img = img.convert(mode)
        if image_size is not None and img.size != (image_size, image_size):
            img = img.resize((image_size, image_size), Image.Resampling.LANCZOS)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos); a damaged EXIF block leaves the image as is."""
    try:
        if img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            return ImageOps.exif_transpose(img)
    except Exception as err:  # noqa: BLE001 - EXIF parsers raise many types
        log.debug("%s: ignoring unreadable EXIF (%s)", getattr(img, "filename", "?"), err)
    return img


def _sixteen_bit_to_l(img: Image.Image) -> Image.Image:
    """16-bit grey scaled to 8 bits; PIL's own conversion clips everything above 255 to white."""
    arr = np.asarray(img).astype(np.int64)
    if arr.max(initial=0) > 255:
        arr = (arr * 255 + 32767) // 65535
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def resolve_split_dirs(
    root: Path, split_dirs: Mapping[str, str | Sequence[str]] | None = None
) -> dict[Split, Path]:
    """Which folder under ``root`` holds each split; two candidates for one split is an error."""
    names: dict[Split, tuple[str, ...]] = dict(DEFAULT_SPLIT_DIRS)
    for split, value in (split_dirs or {}).items():
        check_split(split)
        names[split] = (value,) if isinstance(value, str) else tuple(value)  # type: ignore[index]
    present = {
        e.name.lower(): Path(e.path)
        for e in scan_folder(root)
        if e.is_dir() and not e.name.startswith(".")
    }
    found: dict[Split, Path] = {}
    for split in SPLITS:
        hits = sorted({present[n.lower()] for n in names[split] if n.lower() in present})
        if len(hits) > 1:
            listed = ", ".join(h.name for h in hits)
            raise DataError(f"{root}: more than one folder for split {split!r}: {listed}")
        if hits:
            found[split] = hits[0]
    return found


class ImageFolders:
    """Image folders ``<root>/<split>/<class>/*`` in any format and size PIL reads.

    Class order is ``classes`` when given (then every folder must map onto one of them),
    otherwise the sorted class-folder names of the train split. ``class_aliases`` maps folder
    names onto class names (e.g. RAF-DB's ``1`` → ``surprise``); folders in ``exclude_folders``
    are left out (e.g. AffectNet's ``contempt`` for the 7-class protocol). Folder names are
    matched against aliases, exclusions and given classes case-insensitively.
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int | None = None,
        channels: int = 3,
        on_bad_sample: str = "error",
        split_dirs: Mapping[str, str | Sequence[str]] | None = None,
        classes: Sequence[str] | None = None,
        class_aliases: Mapping[str, str] | None = None,
        exclude_folders: Sequence[str] = (),
        hint: str | None = None,
        cache_dir: str | Path | None = None,
        decode_workers: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.image_size = check_image_size(image_size)
        self.channels = check_channels(channels)
        BadSamples(on_bad_sample)
        self.on_bad_sample = on_bad_sample
        self.hint = hint
        self.decode_workers = check_workers(decode_workers)
        self._aliases = {k.casefold(): v for k, v in (class_aliases or {}).items()}
        self._exclude = {e.casefold() for e in exclude_folders}
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"image folder root not found: {self.root}{_hint(hint)}")
        self._splits = resolve_split_dirs(self.root, split_dirs)
        if not self._splits:
            raise DatasetNotFoundError(
                f"no split folders (train/val/test or their aliases) in {self.root}{_hint(hint)}"
            )
        self._given = classes is not None
        if classes is not None:
            self.classes: tuple[str, ...] = tuple(classes)
            if not self.classes or len(set(self.classes)) != len(self.classes):
                raise ValueError(f"classes must be non-empty and unique; got {list(self.classes)}")
        else:
            self.classes = self._infer_classes()
        self._cache_dir, self._prefix = cache_location(
            self.root, self.root / CACHE_DIRNAME, None if cache_dir is None else Path(cache_dir)
        )
        self._settings = digest(
            "folders",
            self.image_size,
            self.channels,
            on_bad_sample,
            self.classes,
            sorted(self._aliases.items()),
            sorted(self._exclude),
        )

    def available_splits(self) -> tuple[Split, ...]:
        return tuple(self._splits)

    def load(self, split: Split) -> ImageSet:
        """Decoded ``split``; a cache hit costs one listing of the split folder and one file read."""
        check_split(split)
        if split not in self._splits:
            present = ", ".join(self._splits)
            raise DataError(f"{self.root}: no folder for split {split!r} (present: {present})")
        split_dir = self._splits[split]
        files, labels = self._listing(split, split_dir)
        key = f"{self._settings}:{split_dir.name}:{listing_digest(self.root, files, labels)}"
        cache_file = self._cache_dir / f"{self._prefix}{split}-{self._settings}"
        data = decode_images_cached(
            cache_file,
            key,
            files,
            labels,
            image_size=self.image_size,
            channels=self.channels,
            bad=BadSamples(self.on_bad_sample),
            source=str(split_dir),
            decode_workers=self.decode_workers,
        )
        return data.image_set(self.classes, f"{self.root} ({split})")

    # -- internals ---------------------------------------------------------------------------

    def _class_folders(self, split_dir: Path) -> list[tuple[Path, str]]:
        """(folder, class name) for every class folder of a split, excluded ones left out."""
        out = []
        for entry in sorted(scan_folder(split_dir), key=lambda e: e.name):
            name = entry.name
            if not entry.is_dir() or name.startswith(".") or name.casefold() in self._exclude:
                continue
            out.append((Path(entry.path), self._aliases.get(name.casefold(), name)))
        return out

    def _infer_classes(self) -> tuple[str, ...]:
        split_dir = self._splits.get("train") or next(iter(self._splits.values()))
        names = sorted({name for _, name in self._class_folders(split_dir)})
        if not names:
            raise DataError(f"{split_dir}: no class folders")
        return tuple(names)

    def _label_of(self, folder: Path, name: str) -> int:
        if name in self.classes:
            return self.classes.index(name)
        folded = [c.casefold() for c in self.classes]
        if self._given and name.casefold() in folded:
            return folded.index(name.casefold())
        raise DataError(
            f"{folder}: folder {folder.name!r} is not one of the classes ({', '.join(self.classes)})"
        )

    def _listing(self, split: Split, split_dir: Path) -> tuple[list[ImageFile], list[int]]:
        files: list[ImageFile] = []
        labels: list[int] = []
        seen: set[int] = set()
        for folder, name in self._class_folders(split_dir):
            label = self._label_of(folder, name)
            found = list_images(folder)
            if not found:
                raise DataError(f"{folder}: empty class folder (no image files)")
            files.extend(found)
            labels.extend([label] * len(found))
            seen.add(label)
        if not files:
            raise DataError(f"{split_dir}: no class folders with images")
        if split == "train":
            missing = [c for i, c in enumerate(self.classes) if i not in seen]
            if missing:
                raise DataError(
                    f"{split_dir}: no training images for class(es) {', '.join(missing)}"
                )
        return files, labels


def _hint(hint: str | None) -> str:
    return f"; {hint}" if hint else ""


def check_image_size(image_size: int | None) -> int | None:
    """Shared argument check: ``image_size`` is a positive int or None (keep native size)."""
    bad_type = not isinstance(image_size, int) or isinstance(image_size, bool)
    if image_size is not None and (bad_type or image_size < 1):
        raise ValueError(f"image_size must be a positive integer or None; got {image_size!r}")
    return None if image_size is None else int(image_size)


def check_channels(channels: int) -> int:
    """Shared argument check: 1 (grey) or 3 (RGB) channels."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    return int(channels)
