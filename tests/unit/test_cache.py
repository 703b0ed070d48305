"""The decode-once cache: memory-mapped, shared, checksummed, safe under concurrent writers."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emotion_lab import files
from emotion_lab.data import variants
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.formats import Fer2013Csv, ImageFolders
from emotion_lab.data.formats import cache as cache_mod
from emotion_lab.data.formats.cache import CACHE_DIRNAME

RNG = np.random.default_rng(7)


def write_fer(path: Path, n: int, usage: str = "Training") -> list[np.ndarray]:
    faces = [RNG.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(n)]
    rows = [f"{i % 7},{' '.join(map(str, f.ravel()))},{usage}" for i, f in enumerate(faces)]
    path.write_text("\n".join(["emotion,pixels,Usage", *rows]) + "\n", encoding="utf-8")
    return faces


def image_tree(root: Path, per_class: int = 6, side: int = 16) -> None:
    for split in ("train", "test"):
        for label in ("a", "b"):
            for i in range(per_class):
                path = root / split / label / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(RNG.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)


def mapped_file(tensor: torch.Tensor) -> str | None:
    """The file whose memory map holds ``tensor``'s storage (None: private memory)."""
    ptr = tensor.untyped_storage().data_ptr()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        lo, hi = (int(v, 16) for v in fields[0].split("-"))
        if lo <= ptr < hi:
            return fields[5] if len(fields) == 6 else None
    return None


def only_npy(folder: Path, pattern: str = "*.npy") -> list[Path]:
    return sorted(p for p in folder.glob(pattern) if not p.name.startswith("."))


def test_cache_hits_are_memory_mapped_and_the_datamodule_views_them(tmp_path: Path) -> None:
    image_tree(tmp_path)
    first = ImageFolders(tmp_path, image_size=16).load("train")
    assert isinstance(first.images, np.memmap)  # even the run that decoded trains off the map
    dm = EmotionDataModule(
        source=partial(ImageFolders, tmp_path), image_size=16, channels=3, val_fraction=0.25
    )
    dm.setup()
    train, val = dm.splits["train"], dm.splits["val"]
    base = train.parts[0]
    (array,) = only_npy(tmp_path / CACHE_DIRNAME, "train-*.npy")
    assert mapped_file(base) == str(array) and val.parts[0] is base  # the cut is an index
    cached = np.load(array, mmap_mode="r")
    assert len(train) + len(val) == 12 and train.index is not None
    batch, labels = train.__getitems__([0, 2])
    rows = train.index[[0, 2]]
    expected = torch.from_numpy(np.asarray(cached[rows.numpy()])).permute(0, 3, 1, 2)
    assert torch.equal(batch, expected) and labels.tolist() == train.labels[[0, 2]].tolist()
    assert mapped_file(batch) != str(array)  # a batch is its own copy


def test_folds_pool_train_and_val_without_copying(tmp_path: Path) -> None:
    image_tree(tmp_path)
    for label in ("a", "b"):
        shutil.copytree(tmp_path / "test" / label, tmp_path / "val" / label)
    dm = EmotionDataModule(
        source=partial(ImageFolders, tmp_path), image_size=16, channels=3, fold=1, num_folds=3
    )
    dm.setup()
    test = dm.splits["test"]
    assert len(test.parts) == 2 and all(not p.is_contiguous() for p in test.parts)  # NHWC views
    pooled = torch.cat([dm.splits[s].images for s in ("train", "val", "test")])
    source = ImageFolders(tmp_path, image_size=16)
    every = np.concatenate([source.load("train").images, source.load("val").images])
    assert len(pooled) == len(every) == 24
    # each pooled image is one of the cached ones, each exactly once
    flat = {bytes(x) for x in np.ascontiguousarray(every).reshape(24, -1)}
    got = {bytes(x) for x in pooled.permute(0, 2, 3, 1).contiguous().numpy().reshape(24, -1)}
    assert got == flat


def test_the_model_sized_variant_is_cached_once_and_shared(tmp_path: Path, monkeypatch) -> None:
    csv = tmp_path / "fer.csv"
    faces = write_fer(csv, 70)
    make = partial(EmotionDataModule, source=partial(Fer2013Csv, csv), image_size=32, channels=3)
    dm = make()
    dm.setup()
    stored = only_npy(tmp_path / "fer.csv.cache", "train-*@32px3c-*.npy")
    assert len(stored) == 1
    variant = np.load(stored[0], mmap_mode="r")
    assert variant.shape == (70, 32, 32, 3)
    # grey replicated into three channels, resized from the 48-pixel faces
    assert np.array_equal(variant[..., 0], variant[..., 2])
    assert abs(float(variant[0, ..., 0].mean()) - float(faces[0].mean())) < 8

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although the variant is cached")

    monkeypatch.setattr(variants, "_convert", no_conversion)
    again = make()
    again.setup()
    assert mapped_file(again.splits["train"].parts[0]) == str(stored[0])
    assert torch.equal(again.splits["val"].images, dm.splits["val"].images)


def _load_train(csv: str, queue) -> None:  # runs in a child process
    data = Fer2013Csv(csv).load("train")
    queue.put(np.asarray(data.images).tobytes())


def test_two_processes_building_one_cache_at_once_agree(tmp_path: Path) -> None:
    csv = tmp_path / "fer.csv"
    write_fer(csv, 300)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_load_train, args=(str(csv), queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results[0] == results[1]
    cache_dir = tmp_path / "fer.csv.cache"
    assert len(only_npy(cache_dir, "train-*.npy")) == 1
    assert not list(cache_dir.glob("*.tmp"))
    assert np.asarray(Fer2013Csv(csv).load("train").images).tobytes() == results[0]


def overwrite_tail(path: Path, keep_mtime: bool) -> None:
    """Damage an array in place, header intact (what a bad disk or a stray writer does)."""
    st = path.stat()
    with path.open("r+b") as fh:
        fh.seek(-64, os.SEEK_END)
        fh.write(bytes(64))
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_an_overwritten_cache_array_is_not_trusted(tmp_path: Path, caplog, keep_mtime) -> None:
    csv = tmp_path / "fer.csv"
    faces = write_fer(csv, 5)
    Fer2013Csv(csv).load("train")
    (array,) = only_npy(tmp_path / "fer.csv.cache", "train-*.npy")
    overwrite_tail(array, keep_mtime)
    with caplog.at_level(logging.WARNING):
        data = Fer2013Csv(csv).load("train")
    assert any("does not match its checksum" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(data.images[..., 0], np.stack(faces))


def test_a_warm_start_does_not_hash_the_array_again(tmp_path: Path, monkeypatch) -> None:
    csv = tmp_path / "fer.csv"
    write_fer(csv, 5)
    Fer2013Csv(csv).load("train")

    def no_hash(images):
        raise AssertionError("hashed an array that did not change since its verification")

    monkeypatch.setattr(cache_mod, "array_checksum", no_hash)
    assert len(Fer2013Csv(csv).load("train").labels) == 5


def test_a_source_rewritten_with_its_mtime_restored_is_decoded_again(tmp_path: Path) -> None:
    image_tree(tmp_path, per_class=2)
    target = tmp_path / "train/a/0.png"
    before = ImageFolders(tmp_path, image_size=16).load("train")
    old = np.asarray(before.images[0]).copy()
    replacement = tmp_path / "new.png"
    Image.fromarray(255 - old).save(replacement)
    assert replacement.stat().st_size == target.stat().st_size  # a same-size rewrite
    os.utime(replacement, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns))
    subprocess.run(["cp", "-p", str(replacement), str(target)], check=True)
    after = ImageFolders(tmp_path, image_size=16).load("train")
    np.testing.assert_array_equal(after.images[0], 255 - old)


def test_a_killed_writer_leaves_no_temp_file_behind_after_the_next_write(tmp_path: Path) -> None:
    csv = tmp_path / "fer.csv"
    write_fer(csv, 5)
    cache_dir = tmp_path / "fer.csv.cache"
    # a writer killed mid-write: it made its temp file and died before the rename
    child = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from emotion_lab.data.formats import cache\n"
        "def die(tmp):\n"
        "    tmp.write_bytes(b'x' * 1000)\n"
        "    import os; os._exit(9)\n"
        "cache._atomic_write(Path(sys.argv[1]) / 'train-x.npy', die)\n"
    )
    subprocess.run([sys.executable, "-c", child, str(cache_dir)], check=False)
    orphans = list(cache_dir.glob(".*.tmp"))
    assert len(orphans) == 1
    live = cache_dir / f".train-y.npy.{files.HOST}-{os.getpid()}.abc.tmp"
    live.write_bytes(b"still being written")
    Fer2013Csv(csv).load("train")
    assert not orphans[0].exists()
    assert live.exists()  # this process is alive: its temp file may be in use


def test_settings_digest_is_unchanged_so_existing_caches_stay_valid() -> None:
    """Cache names and keys hash the settings; a different hash would re-decode every data set."""
    settings = ("folders", 48, 1, "error", ("a", "b"), [("x", "a")], [])
    assert cache_mod.digest(*settings) == "e25f5a6b757540cd"


def test_cache_files_are_readable_by_others(tmp_path: Path) -> None:
    csv = tmp_path / "fer.csv"
    write_fer(csv, 5)
    Fer2013Csv(csv).load("train")
    written = [p for p in (tmp_path / "fer.csv.cache").iterdir() if not p.name.endswith(".lock")]
    assert written and all(p.stat().st_mode & 0o777 == 0o644 & ~files._UMASK for p in written)


def test_cache_folder_holds_only_the_current_arrays(tmp_path: Path) -> None:
    image_tree(tmp_path, per_class=2)
    ImageFolders(tmp_path, image_size=16).load("train")
    (tmp_path / "train/a/0.png").unlink()
    ImageFolders(tmp_path, image_size=16).load("train")
    assert len(only_npy(tmp_path / CACHE_DIRNAME, "train-*.npy")) == 1
