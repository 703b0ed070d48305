"""Image-folder data sets, ``<root>/<split>/<class>/<image>``, and the image listing they share.

Every split is decoded once (:mod:`.decode`) into one uint8 array and cached under
``<root>/.emotion_lab_cache/``. The cache key includes a hash of the listing (relative path,
size, mtime, ctime and inode of every image), so adding, removing or rewriting any image
invalidates it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image

from emotion_lab.data.crops import Box, ResizeMode, check_resize
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import ImageSet, Split
from emotion_lab.data.formats.cache import (
    CACHE_DIRNAME,
    SPLITS,
    BadSamples,
    cache_location,
    check_split,
    digest,
)
from emotion_lab.data.formats.decode import (
    DEFAULT_MAX_PIXELS,
    check_channels,
    check_image_size,
    check_max_pixels,
    check_workers,
    decode_images_cached,
)
from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_SPLIT_DIRS: dict[Split, tuple[str, ...]] = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation", "publictest"),
    "test": ("test", "privatetest"),
}
"""Folder names accepted for each split, compared case-insensitively (``Train`` = ``train``)."""


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
            kind, st = _entry_kind(entry)
            if kind == "dir":
                stack.append(Path(entry.path))
            elif kind == "file":
                if is_image and st is not None:
                    found.append(ImageFile.of(Path(entry.path), st))
            elif kind == "broken":
                if is_image:  # listed, so that decoding reports it as a bad sample
                    found.append(ImageFile(Path(entry.path), -1, 0))
                else:
                    log.warning("%s: ignoring a link whose target is missing or loops", entry.path)
    found.sort(key=lambda f: f.path)
    return found


def _entry_kind(entry: os.DirEntry[str]) -> tuple[str, os.stat_result | None]:
    """``dir``, ``file`` (with its stat), ``broken`` (a link that dangles, loops or points at
    itself: resolving it fails) or ``other`` (sockets, devices...)."""
    try:
        if entry.is_dir():
            return "dir", None
        if entry.is_file():
            return "file", entry.stat()
    except OSError:  # ELOOP and friends raise here, unlike Path.is_dir()
        return ("broken", None) if entry.is_symlink() else ("other", None)
    if entry.is_symlink() and not os.path.exists(entry.path):
        return "broken", None
    return "other", None


def leaves_root(relative: str) -> bool:
    """Whether a path meant relative to a data root leaves it: absolute, or climbing out with
    ``..`` (read as written: links inside the root are the root's own business)."""
    if os.path.isabs(relative) or os.path.splitdrive(relative)[0]:
        return True
    first = os.path.normpath(relative).split(os.sep, 1)[0]
    return first == os.pardir


def listing_digest(root: Path, files: Sequence[ImageFile], labels: Sequence[int]) -> str:
    """Hash of what a split is made of; any added, removed, rewritten or relabelled image changes it."""
    h = hashlib.sha1()
    for f, label in zip(files, labels, strict=True):
        rel = os.path.relpath(f.path, root)
        h.update(f"{rel}\t{f.size}\t{f.mtime_ns}\t{f.ctime_ns}\t{f.inode}\t{label}\n".encode())
    return h.hexdigest()[:16]


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


class CachedSplits:
    """A format whose splits decode through the on-disk cache: the folder and annotation
    formats name a split's cache file the same way and decode with the same settings, so that
    rule lives once. Subclasses set the attributes below in ``__init__``."""

    image_size: int | None
    channels: int
    decode_workers: int | None
    classes: tuple[str, ...]
    resize: ResizeMode = "stretch"
    margin: float = 0.0
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    _cache_dir: Path
    _prefix: str
    _settings: str

    def _classes(self, classes: Sequence[str] | None) -> tuple[str, ...]:
        """The given class list, checked (non-empty, unique), or the one the source infers."""
        if classes is None:
            return self._infer_classes()
        given = tuple(classes)
        if not given or len(set(given)) != len(given):
            raise ConfigError(f"classes must be non-empty and unique; got {list(given)}")
        return given

    def _infer_classes(self) -> tuple[str, ...]:
        raise ConfigError(f"{type(self).__name__} needs its class list")

    def _place_cache(
        self, source: Path, cache_dir: str | Path | None, prefix: str | None = None
    ) -> None:
        """Cache files go beside ``source`` (in its folder's hidden cache folder, or its own
        when ``source`` is a folder) or in a shared ``cache_dir``; ``prefix`` names them
        beside the source (a shared folder always gets a per-source prefix). A hidden cache
        folder that is a link is an error: it is never followed."""
        folder = source if source.is_dir() else source.parent
        self._cache_dir, self._prefix = cache_location(
            source, folder / CACHE_DIRNAME, None if cache_dir is None else Path(cache_dir)
        )
        if cache_dir is None and prefix is not None:
            self._prefix = prefix

    def _decode_cached(
        self,
        split: Split,
        key: str,
        files: Sequence[ImageFile],
        labels: Sequence[int],
        *,
        bad: BadSamples,
        source: str,
        name: str,
        where: Sequence[str] | None = None,
        boxes: Sequence[Box | None] | None = None,
    ) -> ImageSet:
        """``split`` from its cache file while ``key`` matches, else decoded and cached;
        ``source`` prefixes decode messages, ``name`` is the returned set's source. The
        settings digest must cover ``resize`` and ``margin``, and ``key`` the boxes. The pixel
        cap joins ``key`` when it is not the default (skip mode keeps other images under
        another cap), so that caches built at the default stay valid."""
        if self.max_pixels != DEFAULT_MAX_PIXELS:
            key = f"{key}:max_pixels={self.max_pixels}"
        data = decode_images_cached(
            self._cache_dir / f"{self._prefix}{split}-{self._settings}",
            key,
            [f.path for f in files],
            labels,
            image_size=self.image_size,
            channels=self.channels,
            bad=bad,
            source=source,
            where=where,
            decode_workers=self.decode_workers,
            boxes=boxes,
            margin=self.margin,
            resize=self.resize,
            max_pixels=self.max_pixels,
        )
        return data.image_set(self.classes, name)


class ImageFolders(CachedSplits):
    """Image folders ``<root>/<split>/<class>/*`` in any format and size PIL reads.

    Class order is ``classes`` when given (then every folder must map onto one of them),
    otherwise the sorted class-folder names of the train split. ``class_aliases`` maps folder
    names onto class names (e.g. RAF-DB's ``1`` → ``surprise``); folders in ``exclude_folders``
    are left out (e.g. AffectNet's ``contempt`` for the 7-class protocol). Folder names are
    matched against aliases, exclusions and given classes case-insensitively. An image of more
    than ``max_pixels`` pixels (None: no cap) is a bad sample.
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
        resize: str = "stretch",
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.root = Path(root)
        self.resize = check_resize(resize)
        self.max_pixels = check_max_pixels(max_pixels)
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
        self.classes = self._classes(classes)
        self._place_cache(self.root, cache_dir)
        self._settings = digest(
            "folders",
            *(() if self.resize == "stretch" else (self.resize,)),
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
        return self._decode_cached(
            split,
            key,
            files,
            labels,
            bad=BadSamples(self.on_bad_sample),
            source=str(split_dir),
            name=f"{self.root} ({split})",
        )

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
