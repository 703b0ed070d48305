"""Images into one uint8 array: the decoding every image-file format shares (and inference uses).

PIL opens each image, turns it upright per EXIF, converts it to ``L``/``RGB`` and optionally
resizes it with Lanczos. A split is decoded in chunks by a pool of processes (``decode_workers``,
default: every core) into one N×H×W×C array; the result is the same bit for bit whatever the
worker count, and bad images are reported in listing order.
"""

from __future__ import annotations

import errno
import logging
import mmap
import multiprocessing
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps

from emotion_lab.data.crops import Box, ResizeMode, crop_rect, to_square
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.cache import (
    BadSamples,
    DecodedSplit,
    locked_build,
    progress,
    scratch_arrays,
    write_cache,
)
from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)

DECODE_CHUNK = 64
"""Images per pool task: big enough to amortise the hand-over, small enough to stop fast."""

DEFAULT_MAX_PIXELS = 64_000_000
"""``data.max_pixels``' default: 8000×8000. Above every photo of a 61 MP full-frame camera (and
far above the web images emotion data sets hold), below PIL's own decompression-bomb warning
(89 M pixels). One such image costs a decoding worker about 190 MB per RGB copy, and a few
copies on the way to the model's size: a 16-core pool meeting such images at once stays near
10 GB, where a crafted 100000×100000 header would ask for 30 GB per worker."""

_CONVERT_CHUNK = 1 << 20
"""Pixels of a 16-bit image converted at a time (bounds the 32-bit temporaries to 4 MB)."""

_OUTPUT: np.ndarray | None = None
"""The array being decoded into, in shared memory: forked workers write their images straight
into it (no pickling of pixels); spawned workers, which do not inherit it, send them back."""


def default_workers() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's core count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_max_pixels(max_pixels: int | None) -> int | None:
    """``data.max_pixels``: a positive pixel count, or None for no cap."""
    if max_pixels is None:
        return None
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ConfigError(
            f"data.max_pixels must be a positive integer or null (no cap); got {max_pixels!r}"
        )
    return int(max_pixels)


def check_workers(decode_workers: int | None) -> int:
    """``data.decode_workers``: a positive count, or None/0 for every core."""
    if decode_workers is None or decode_workers == 0:
        return default_workers()
    if (
        not isinstance(decode_workers, int)
        or isinstance(decode_workers, bool)
        or decode_workers < 0
    ):
        raise ConfigError(
            f"data.decode_workers must be a positive integer, 0 or null (all cores); "
            f"got {decode_workers!r}"
        )
    return decode_workers


def decode_images_cached(
    cache_file: Path,
    key: str,
    paths: Sequence[Path],
    labels: Sequence[int],
    **decode: Any,
) -> DecodedSplit:
    """The decoded split from ``cache_file`` when its ``key`` still matches, else decoded by
    :func:`decode_images` (``decode`` are its keyword arguments) and cached for the next run;
    concurrent processes decode it once, into a file beside the cache rather than memory."""

    def make() -> DecodedSplit:
        with scratch_arrays(cache_file.parent, cache_file.name) as allocate:
            data = decode_images(paths, labels, allocate=allocate, **decode)
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
    boxes: Sequence[Box | None] | None = None,
    margin: float = 0.0,
    resize: ResizeMode = "stretch",
    max_pixels: int | None = None,
) -> DecodedSplit:
    """Decode ``paths`` into one N×H×W×C uint8 array, chunks of images in parallel processes.

    An image of more than ``max_pixels`` pixels (read from its header) is a bad sample.
    ``boxes`` gives a face box per image (None: the whole image), cropped with ``margin`` before
    the image is brought to ``image_size`` by ``resize`` (see :mod:`emotion_lab.data.crops`).

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
    box_of = (lambda i: None) if boxes is None else boxes.__getitem__
    geometry = (margin, resize, max_pixels)
    while first < n and ref is None:
        try:
            ref = decode_image(paths[first], mode, image_size, box_of(first), *geometry)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files
            ok[first] = False
            bad.report(message(first, decode_problem(paths[first], err)))
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
        (
            lo,
            [str(p) for p in paths[lo:hi]],
            [box_of(i) for i in range(lo, hi)],
            geometry,
            mode,
            image_size,
            ref.shape,
            mismatch,
        )
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
    boxes: list[Box | None],
    geometry: tuple[float, ResizeMode, int | None],
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
    for offset, (name, box) in enumerate(zip(paths, boxes, strict=True)):
        try:
            arr = decode_image(Path(name), mode, image_size, box, *geometry)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files
            problems.append((offset, decode_problem(Path(name), err)))
            continue
        if arr.shape != shape:
            problems.append((offset, f"image is {arr.shape[1]}×{arr.shape[0]} {mismatch}"))
            continue
        out[offset] = arr
    return (None if _OUTPUT is not None else out), problems


class EmptyCrop(ValueError):
    """A face box with nothing of it inside its image: a bad sample like an undecodable file."""


class TooLarge(ValueError):
    """An image whose header gives more pixels than decoding allows (``data.max_pixels``, or
    PIL's decompression-bomb limit): a bad sample, refused before its pixels are decoded."""


def decode_problem(path: Path, err: Exception) -> str:
    """Why ``path`` could not be decoded, in words (links that loop or dangle named as such)."""
    if isinstance(err, (EmptyCrop, TooLarge)):
        return str(err)
    if isinstance(err, OSError) and err.errno == errno.ELOOP:
        return "the link loops (it points to itself, or round a cycle of links)"
    if isinstance(err, FileNotFoundError) and path.is_symlink():
        return f"dangling link (its target {os.readlink(path)} is missing)"
    return f"cannot decode image ({type(err).__name__}: {err})"


def decode_image(
    path: Path,
    mode: str,
    image_size: int | None,
    box: Box | None = None,
    margin: float = 0.0,
    resize: ResizeMode = "stretch",
    max_pixels: int | None = None,
) -> np.ndarray:
    """One image as H×W×C uint8: upright per EXIF, converted to ``mode``, cropped to ``box``
    (widened by ``margin``, clipped) and brought to ``image_size`` by ``resize``.

    Boxes are in the pixels of the file as stored (as the releases' own loaders crop them), so
    the crop comes first and the EXIF turn is applied to the crop. An image of more than
    ``max_pixels`` pixels (None: no cap of ours) raises :class:`TooLarge` from its header,
    before any pixel is decoded; PIL's decompression-bomb error (twice its
    ``MAX_IMAGE_PIXELS``, which stays in force) becomes the same, and its warning is not shown
    (the cap is ours to set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return _decode(path, mode, image_size, box, margin, resize, max_pixels)
        except Image.DecompressionBombError as err:
            found = re.search(r"\((\d+) pixels\)", str(err))
            pixels = int(found[1]) if found else None
            size = f"{pixels} pixels" if pixels is not None else "too many pixels"
            if max_pixels is not None and (pixels is None or pixels > max_pixels):
                raise TooLarge(f"image is {size}, above data.max_pixels ({max_pixels})") from None
            limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            raise TooLarge(
                f"image is {size}, above the {limit} pixels PIL decodes (a possible "
                "decompression bomb)"
            ) from None


def _decode(
    path: Path,
    mode: str,
    image_size: int | None,
    box: Box | None,
    margin: float,
    resize: ResizeMode,
    max_pixels: int | None,
) -> np.ndarray:
    with Image.open(path) as im:
        if max_pixels is not None and im.width * im.height > max_pixels:
            raise TooLarge(
                f"image is {im.width}×{im.height} ({im.width * im.height} pixels), above "
                f"data.max_pixels ({max_pixels})"
            )
        img: Image.Image = im
        if box is not None:
            rect = crop_rect(box, im.width, im.height, margin)
            if rect is None:
                raise EmptyCrop(f"face box {box} lies outside the {im.width}×{im.height} image")
            img = _upright(im, im.crop(rect))
        else:
            img = _upright(im)
        if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
            img = _sixteen_bit_to_l(img)
        if img.mode != mode:
            img = img.convert(mode)
        if image_size is not None:
            img = to_square(img, image_size, resize)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


_EXIF_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(img: Image.Image, part: Image.Image | None = None) -> Image.Image:
    """``part`` (default: the whole ``img``) turned per ``img``'s EXIF orientation (phone
    photos); a damaged EXIF block leaves it as is."""
    target = img if part is None else part
    try:
        turn = _EXIF_TURNS.get(img.getexif().get(ExifTags.Base.Orientation, 1))
        if turn is not None:
            return ImageOps.exif_transpose(img) if part is None else target.transpose(turn)
    except Exception as err:  # noqa: BLE001 - EXIF parsers raise many types
        log.debug("%s: ignoring unreadable EXIF (%s)", getattr(img, "filename", "?"), err)
    return target


def _sixteen_bit_to_l(img: Image.Image) -> Image.Image:
    """16-bit grey scaled to 8 bits; PIL's own conversion clips everything above 255 to white.

    ``clip((v * 255 + 32767) // 65535, 0, 255)`` when any value is above 255, else
    ``clip(v, 0, 255)``: computed in 32-bit blocks of rows (values clipped to 0..65535 first,
    which gives the same result), so the image is never copied whole and the temporaries stay
    at a few MB, where the int64 arithmetic on the whole image cost 8 bytes per pixel several
    times over (+2.9 GB for a 10000×10000 PNG)."""
    width, height = img.size
    scale = img.getextrema()[1] > 255  # type: ignore[operator]
    top = 65535 if scale else 255
    out = np.empty((height, width), dtype=np.uint8)
    rows = max(1, _CONVERT_CHUNK // max(1, width))
    for start in range(0, height, rows):
        block = np.asarray(img.crop((0, start, width, min(height, start + rows))))
        if block.dtype.kind == "i":  # mode I: int32, may hold anything
            block = np.clip(block, 0, top)
        wide = block.astype(np.uint32)
        if scale:
            wide *= 255
            wide += 32767
            wide //= 65535
        out[start : start + rows] = wide
    return Image.fromarray(out)


def check_image_size(image_size: int | None) -> int | None:
    """Shared argument check: ``image_size`` is a positive int or None (keep native size)."""
    bad_type = not isinstance(image_size, int) or isinstance(image_size, bool)
    if image_size is not None and (bad_type or image_size < 1):
        raise ConfigError(f"image_size must be a positive integer or None; got {image_size!r}")
    return None if image_size is None else int(image_size)


def check_channels(channels: int) -> int:
    """Shared argument check: 1 (grey) or 3 (RGB) channels."""
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3; got {channels!r}")
    return int(channels)
