"""Data from elsewhere: full disks, huge or 16-bit images, linked cache folders, rows that leave
the data root. Each case fails the way a bad sample or an unwritable cache does (one line, the
run goes on where it can), never with a signal, a traceback or a file touched elsewhere."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lab import files
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats import Fer2013Csv, ImageFolders
from emotion_lab.data.formats.annotations import AnnotationFile
from emotion_lab.data.formats.cache import (
    CACHE_DIRNAME,
    DecodedSplit,
    scratch_arrays,
    write_cache,
)
from emotion_lab.data.formats.decode import (
    DEFAULT_MAX_PIXELS,
    TooLarge,
    _sixteen_bit_to_l,
    decode_image,
)
from emotion_lab.data.formats.release import OfficialRelease, Record
from emotion_lab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def run_python(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter (a SIGBUS or a memory peak there is its own)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def image_tree(root: Path, per_class: int = 12, side: int = 16) -> None:
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        folder = root / "train" / cls
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")


# -- 1. a full disk ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: writing a sparse memory-mapped file past its size raises SIGBUS."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


DECODE = """
    import logging, sys
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from emotion_lab.data.formats import ImageFolders
    from emotion_lab.data import variants
    root, cache, size, workers, variant = sys.argv[1:6]
    source = ImageFolders(
        root, image_size=int(size) or None, cache_dir=cache, decode_workers=int(workers)
    )
    data = source.load("train")
    images = data.images
    if int(variant):
        images = variants.model_array(data, int(variant), 3)
    print("decoded", images.shape, int(images.astype("int64").sum()), data.cache is not None)
"""


@pytest.mark.parametrize(
    ("size", "workers", "variant"),
    [
        (200, 1, 0),  # 2.9 MB: the scratch file does not fit either, decoding goes to memory
        (200, 2, 0),  # the same with forked workers writing into the scratch array
        (150, 1, 0),  # 1.6 MB: the scratch file fits, the cache beside it does not
        (0, 1, 200),  # the split is cached (18 KB); its 2.9 MB model-sized variant is not
    ],
)
def test_a_full_disk_fails_the_cache_write_not_the_process(
    tmp_path: Path, small_disk: Path, size: int, workers: int, variant: int
) -> None:
    root = tmp_path / "data"
    image_tree(root)
    args = (str(root), str(small_disk), str(size), str(workers), str(variant))
    done = run_python(DECODE, *args)
    assert done.returncode == 0, f"rc {done.returncode} (-7 is SIGBUS): {done.stderr[-2000:]}"
    warnings = [line for line in done.stderr.splitlines() if "no space left" in line]
    assert warnings, done.stderr
    assert any(str(small_disk) in line for line in warnings), warnings
    # no partial cache is left to be trusted, and no temp file stays behind
    leftovers = sorted(p.name for p in small_disk.iterdir())
    assert not [n for n in leftovers if n.endswith(".tmp")], leftovers
    if not variant:
        assert not [n for n in leftovers if n.endswith(".npy")], leftovers
    # the split is whole: the same pixels as a decode with room to spare
    reference = run_python(DECODE, str(root), str(tmp_path / "roomy"), *args[2:])
    assert reference.returncode == 0, reference.stderr
    assert done.stdout.split()[:-1] == reference.stdout.split()[:-1]


def test_scratch_arrays_fall_back_to_memory_on_a_full_disk(small_disk: Path) -> None:
    with scratch_arrays(small_disk, "split") as allocate:
        big = allocate((3 << 20,))
        big[:] = 7  # in memory: a mapped file would have raised SIGBUS here
        small = allocate((1 << 10,))
        small[:] = 1
        assert isinstance(small, np.memmap) and not isinstance(big, np.memmap)
    assert not list(small_disk.iterdir())


def test_without_fallocate_the_space_is_reserved_by_writing_zeros(
    tmp_path: Path, small_disk: Path, monkeypatch
) -> None:
    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    with scratch_arrays(roomy, "split") as allocate:
        mapped = allocate((1 << 20,))
        assert isinstance(mapped, np.memmap)
        (tmp,) = roomy.iterdir()
        assert tmp.stat().st_blocks * 512 >= 1 << 20  # allocated, not sparse
    with scratch_arrays(small_disk, "split") as allocate:
        assert not isinstance(allocate((3 << 20,)), np.memmap)
    split = DecodedSplit(np.ones((3, 1024, 1024, 1), np.uint8), np.zeros(3, np.int64))
    assert write_cache(small_disk / "train", "key", split) is split
    assert not list(small_disk.iterdir())


# -- 2. bounded decode ---------------------------------------------------------------------------


def png_header(path: Path, width: int, height: int) -> None:
    """A PNG that declares ``width``×``height`` 8-bit grey pixels and holds almost none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_an_image_above_max_pixels_is_refused_from_its_header(tmp_path: Path, recwarn) -> None:
    path = tmp_path / "huge.png"
    png_header(path, 10_000, 10_000)  # 100 M pixels: PIL itself would only warn
    start = time.perf_counter()
    with pytest.raises(
        TooLarge,
        match=r"image is 10000×10000 \(100000000 pixels\), above data\.max_pixels \(64000000\)",
    ):
        decode_image(path, "L", 48, max_pixels=DEFAULT_MAX_PIXELS)
    assert time.perf_counter() - start < 1.0  # nothing decoded
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_pils_decompression_bomb_error_becomes_a_bad_sample_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    png_header(path, 20_000, 20_000)  # 400 M pixels: PIL raises before any cap of ours
    with pytest.raises(TooLarge, match=r"image is 400000000 pixels, above the \d+ pixels PIL"):
        decode_image(path, "L", 48, max_pixels=None)
    with pytest.raises(TooLarge, match=r"400000000 pixels, above data\.max_pixels \(1000\)"):
        decode_image(path, "L", 48, max_pixels=1000)


@pytest.mark.parametrize("mode", ["error", "skip"])
def test_max_pixels_makes_large_images_bad_samples(tmp_path: Path, mode: str) -> None:
    root = tmp_path / "data"
    image_tree(root, per_class=3)
    big = root / "train" / "a" / "big.png"
    Image.new("RGB", (40, 30)).save(big)
    source = ImageFolders(root, image_size=16, on_bad_sample=mode, max_pixels=16 * 16)
    if mode == "error":
        with pytest.raises(DataError) as err:
            source.load("train")
        assert str(err.value) == f"{big}: image is 40×30 (1200 pixels), above data.max_pixels (256)"
        return
    data = source.load("train")
    assert (len(data.labels), data.skipped) == (6, 1)
    assert "40×30" in data.skip_reasons[0] and str(big) in data.skip_reasons[0]
    # no cap: the image is decoded, from a cache entry of its own
    assert (
        len(
            ImageFolders(root, image_size=16, on_bad_sample=mode, max_pixels=None)
            .load("train")
            .labels
        )
        == 7
    )


def test_max_pixels_is_a_data_level_key_checked_and_handed_down(tmp_path: Path) -> None:
    root = tmp_path / "data"
    image_tree(root, per_class=3)
    dm = EmotionDataModule(partial(ImageFolders, root), image_size=16, channels=3, max_pixels=99)
    assert dm.source.max_pixels == 99
    assert ImageFolders(root).max_pixels == DEFAULT_MAX_PIXELS
    with pytest.raises(ConfigError, match="data.max_pixels"):
        EmotionDataModule(partial(ImageFolders, root), image_size=16, channels=3, max_pixels=0)


def reference_sixteen_bit(arr: np.ndarray) -> np.ndarray:
    """The conversion as it was, in int64 (the values the cache holds must not change)."""
    wide = arr.astype(np.int64)
    if wide.max(initial=0) > 255:
        wide = (wide * 255 + 32767) // 65535
    return np.clip(wide, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("mode", "values"),
    [
        ("I;16", [0, 1, 255, 256, 32767, 32768, 65534, 65535]),
        ("I;16", [0, 17, 200, 255]),  # no value above 255: kept as is
        ("I", [-(2**31), -70000, -1, 0, 128, 65535, 65536, 2**31 - 1]),
        ("I", [-5, 0, 3, 255]),
    ],
)
def test_sixteen_bit_conversion_keeps_its_values(mode: str, values: list[int], monkeypatch) -> None:
    from emotion_lab.data.formats import decode

    monkeypatch.setattr(decode, "_CONVERT_CHUNK", 8)  # several row blocks
    rng = np.random.default_rng(1)
    dtype = np.uint16 if mode == "I;16" else np.int32
    arr = rng.choice(np.asarray(values, dtype=np.int64), size=(13, 5)).astype(dtype)
    img = Image.fromarray(arr)
    assert img.mode == mode
    out = np.asarray(_sixteen_bit_to_l(img))
    np.testing.assert_array_equal(out, reference_sixteen_bit(np.asarray(img)))


PEAK = """
    import resource, sys
    from pathlib import Path
    import numpy as np
    from emotion_lab.data.formats.decode import decode_image
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = decode_image(Path(sys.argv[1]), "L", 48)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) // 1024, int(out.min()), int(out.max()))
"""


def test_a_large_sixteen_bit_png_decodes_in_bounded_memory(tmp_path: Path) -> None:
    if sys.platform != "linux":
        pytest.skip("ru_maxrss is in KB on Linux only")
    side = 6000
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((side, side), 40000, dtype=np.uint16)).save(path)
    assert path.stat().st_size < 1 << 20
    done = run_python(PEAK, str(path))
    assert done.returncode == 0, done.stderr
    peak_mb, low, high = (int(v) for v in done.stdout.split())
    assert low == high == (40000 * 255 + 32767) // 65535
    # PIL's 16-bit image is 72 MB and the 8-bit result 36 MB (~120 MB measured); the int64
    # conversion of the whole image made the peak grow by ~650 MB
    assert peak_mb < 6 * side * side // (1 << 20), f"peak grew by {peak_mb} MB"


# -- 3. a cache folder that is a link ------------------------------------------------------------


def stale_temp(folder: Path) -> Path:
    stale = folder / ".train-x.npy.otherhost-1.abc.tmp"
    stale.write_bytes(b"someone else's")
    old = time.time() - 10 * files.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))
    return stale


def write_fer(path: Path) -> None:
    pixels = " ".join(["0"] * 48 * 48)
    path.write_text(f"emotion,pixels,Usage\n0,{pixels},Training\n1,{pixels},Training\n")


@pytest.mark.parametrize("kind", ["folders", "annotations", "fer2013_csv"])
def test_a_cache_folder_that_is_a_link_is_refused(tmp_path: Path, kind: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stale = stale_temp(elsewhere)
    root = tmp_path / "data"
    image_tree(root, per_class=2)
    if kind == "folders":
        link = root / CACHE_DIRNAME
        make = partial(ImageFolders, root, image_size=16)
    elif kind == "annotations":
        csv = root / "labels.csv"
        csv.write_text("path,label,split\ntrain/a/0.png,a,train\ntrain/b/0.png,b,train\n")
        link = root / CACHE_DIRNAME
        make = partial(AnnotationFile, csv, image_size=16)
    else:
        csv = root / "fer2013.csv"
        write_fer(csv)
        link = root / "fer2013.csv.cache"
        make = partial(Fer2013Csv, csv)
    link.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DataError) as err:
        make().load("train")
    message = str(err.value)
    assert "\n" not in message and str(link) in message
    assert "remove the link" in message and "cache folder" in message
    assert stale.read_bytes() == b"someone else's"
    assert sorted(p.name for p in elsewhere.iterdir()) == [stale.name]
    # a cache folder given explicitly is the user's own choice
    make(cache_dir=tmp_path / "mine").load("train")


# -- 4. rows that leave the data root ------------------------------------------------------------


def outside_tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "data"
    image_tree(root, per_class=2)
    outside = tmp_path / "outside.png"
    Image.new("RGB", (16, 16), (9, 9, 9)).save(outside)
    csv = root / "labels.csv"
    csv.write_text(
        "path,label,split\n"
        "train/a/0.png,a,train\n"
        "../outside.png,a,train\n"
        f"{outside},b,train\n"
        "train/b/0.png,b,train\n"
    )
    return root, csv


def test_annotation_rows_that_leave_the_root_are_bad_samples(tmp_path: Path) -> None:
    root, csv = outside_tree(tmp_path)
    with pytest.raises(DataError) as err:
        AnnotationFile(csv, image_size=16).load("train")
    assert str(err.value).startswith(f"{csv}:3: image path ../outside.png leaves the data root")
    assert "data.allow_outside_root=true" in str(err.value)
    data = AnnotationFile(csv, image_size=16, on_bad_sample="skip").load("train")
    assert (len(data.labels), data.skipped) == (2, 2)
    assert [r.split(": ")[0] for r in data.skip_reasons] == [f"{csv}:3", f"{csv}:4"]
    dm = EmotionDataModule(
        partial(AnnotationFile, csv), image_size=16, channels=3, allow_outside_root=True
    )
    assert dm.source.allow_outside_root
    assert len(dm.source.load("train").labels) == 4


class _Listed(OfficialRelease):
    """A release whose label file names images as written, relative to the release."""

    name = "listed"
    class_names = ("a", "b")
    ids = {"0": "a", "1": "b"}
    markers = ("labels.txt",)
    hint = "put it in {dir}"

    def label_files(self) -> list[Path]:
        return [self.release / "labels.txt"]

    def items(self):  # type: ignore[no-untyped-def]
        labels = self.release / "labels.txt"
        for line, text in enumerate(labels.read_text().splitlines(), start=1):
            image, label = text.split()
            yield Record(self.release / image, label, f"{labels}:{line}", "train")


def test_release_records_that_leave_the_release_are_bad_samples(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image_tree(root, per_class=2)
    for name in ("outside.png", "other.png"):
        Image.new("RGB", (16, 16)).save(tmp_path / name)
    outside = tmp_path / "other.png"
    labels = root / "labels.txt"
    labels.write_text(f"train/a/0.png 0\ntrain/../../outside.png 0\n{outside} 1\ntrain/b/0.png 1\n")
    with pytest.raises(DataError, match=rf"^{labels}:2: image .* lies outside the release folder"):
        _Listed(root, image_size=16).load("train")
    data = _Listed(root, image_size=16, on_bad_sample="skip").load("train")
    assert (len(data.labels), data.skipped) == (2, 2)
    assert data.skip_reasons[1].startswith(f"{labels}:3: image {outside} lies outside")
    dm = EmotionDataModule(
        partial(_Listed, root), image_size=16, channels=3, allow_outside_root=True
    )
    assert len(dm.source.load("train").labels) == 4
