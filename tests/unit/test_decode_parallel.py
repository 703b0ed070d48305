"""First-time decoding in a process pool: same bytes, same errors, as one worker."""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats import AnnotationFile, ImageFolders
from emotion_lab.data.formats import decode as decode_mod
from emotion_lab.data.formats.cache import CACHE_DIRNAME, BadSamples

RNG = np.random.default_rng(3)
N_PER_CLASS = 80  # two classes: 160 images, three pool tasks of 64


def tree(root: Path) -> list[Path]:
    paths = []
    for label in ("calm", "joy"):
        for i in range(N_PER_CLASS):
            h, w = RNG.integers(12, 40, 2)
            path = root / "train" / label / f"{i:03d}.{'png' if i % 2 else 'jpg'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
            paths.append(path)
    return paths


@pytest.fixture
def pools(monkeypatch) -> list[int]:
    """Worker counts of the process pools started (proof that work left this process)."""
    started: list[int] = []
    real = decode_mod.ProcessPoolExecutor

    def counting(workers, **kwargs):
        started.append(workers)
        return real(workers, **kwargs)

    monkeypatch.setattr(decode_mod, "ProcessPoolExecutor", counting)
    return started


def cached_arrays(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.npy")}


def test_a_pool_writes_the_same_cache_bytes_as_one_worker(tmp_path: Path, pools) -> None:
    tree(tmp_path / "data")
    one = ImageFolders(tmp_path / "data", 20, cache_dir=tmp_path / "c1", decode_workers=1)
    many = ImageFolders(tmp_path / "data", 20, cache_dir=tmp_path / "c3", decode_workers=3)
    a, b = one.load("train"), many.load("train")
    assert pools == [3]
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    bytes_one, bytes_many = cached_arrays(tmp_path / "c1"), cached_arrays(tmp_path / "c3")
    assert len(bytes_one) == 1 and list(bytes_one.values()) == list(bytes_many.values())


def test_a_bad_image_in_a_pool_is_named_like_with_one_worker(tmp_path: Path, pools) -> None:
    paths = tree(tmp_path)
    broken = paths[130]  # in the third task
    broken.write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot decode image") as err:
        ImageFolders(tmp_path, 20, decode_workers=2).load("train")
    assert str(err.value).startswith(f"{broken}: ") and "\n" not in str(err.value)
    skip = {
        n: ImageFolders(
            tmp_path, 20, on_bad_sample="skip", decode_workers=n, cache_dir=tmp_path / f"c{n}"
        )
        for n in (1, 2)
    }
    one, two = skip[1].load("train"), skip[2].load("train")
    assert pools == [2, 2]
    assert one.skipped == two.skipped == 1 and one.skip_reasons == two.skip_reasons
    assert len(two.labels) == 2 * N_PER_CLASS - 1


def test_annotation_files_decode_in_the_pool_and_name_the_row(tmp_path: Path, pools) -> None:
    paths = tree(tmp_path)
    rows = [f"{p.relative_to(tmp_path)},{p.parent.name},train" for p in paths]
    (tmp_path / "ann.csv").write_text("path,label,split\n" + "\n".join(rows) + "\n")
    paths[100].write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"ann\.csv:102: .*cannot decode image"):
        AnnotationFile(tmp_path / "ann.csv", image_size=20, decode_workers=2).load("train")
    assert pools == [2]


@pytest.mark.parametrize("bad", [-1, 1.5, "four", True])
def test_decode_workers_must_be_a_count(tmp_path: Path, bad) -> None:
    tree(tmp_path)
    with pytest.raises(ValueError, match="data.decode_workers"):
        ImageFolders(tmp_path, 20, decode_workers=bad)


def test_the_datamodule_hands_decode_workers_to_the_source(tmp_path: Path) -> None:
    tree(tmp_path)
    dm = EmotionDataModule(
        source=partial(ImageFolders, tmp_path), image_size=20, channels=3, decode_workers=2
    )
    assert dm.source.decode_workers == 2
    every_core = EmotionDataModule(
        source=partial(ImageFolders, tmp_path), image_size=20, channels=3, decode_workers=0
    )
    assert every_core.source.decode_workers == decode_mod.default_workers()


def test_decoding_goes_through_a_file_and_squeezes_out_bad_images(tmp_path: Path, pools) -> None:
    """The first decode writes into a temp file beside the cache (a split may be larger than
    memory); with skipped images the result equals an in-memory decode, and no temp remains."""
    paths = tree(tmp_path)
    for broken in (paths[5], paths[70], paths[150]):
        broken.write_bytes(b"broken")
    allocated: list[np.ndarray] = []
    real = decode_mod.scratch_arrays

    @contextmanager
    def spying(folder, name):
        with real(folder, name) as allocate:
            yield lambda shape: allocated.append(allocate(shape)) or allocated[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decode_mod, "scratch_arrays", spying)
        data = ImageFolders(tmp_path, 20, on_bad_sample="skip", decode_workers=2).load("train")
    assert len(allocated) == 1 and isinstance(allocated[0], np.memmap)
    labels = [0] * N_PER_CLASS + [1] * N_PER_CLASS
    in_memory = decode_mod.decode_images(
        paths, labels, image_size=20, channels=3, bad=BadSamples("skip"), source="t"
    )
    assert data.skipped == in_memory.skipped == 3
    assert np.array_equal(data.images, in_memory.images)
    assert np.array_equal(data.labels, in_memory.labels)
    assert not list((tmp_path / CACHE_DIRNAME).glob(".*.tmp"))
