"""``make bench`` (data): memory per trial process, decode speed, and what cache checks cost.

A generated RGB image-folder data set at 224 px (``--gb`` of decoded pixels, 1.05 GB by
default) is decoded with one worker and with every core (images/s, speed-up), cached, then
read by fresh processes that set up the data module and run one epoch of batches:

* one process: private anonymous memory above its empty baseline (what a trial cannot share;
  the memory-mapped cache pages are page cache, shared by every process that maps them), next
  to its USS (which counts page-cache pages only this process maps), as ratios of the decoded
  size; target anonymous <= 0.1x.
* two concurrent processes: the sum of their PSS above baseline (shared pages split between
  them), target <= 1.2x the decoded size.
* warm start: data-module setup on a built cache with and without the checksum check (which
  hashes an array only when its file changed since the last check); target <= +10 %.

Face crops (``--faces``, 10^4 by default): a generated release in RAF-DB's layout with whole
photos and one face box each (``images: original``) is cropped and decoded at 112 px with one
worker and with every core (images/s), then reopened from its cache by a fresh reader (the
label list parsed, every image stat'ed, the arrays memory-mapped).

``python -m emotion_lab.bench.data --gb 4 --dir /big/disk`` for a larger set.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 224
CLASSES = ("anger", "calm", "joy", "sadness")
ROLLUP_KEYS = ("Rss", "Pss", "Anonymous", "Private_Clean", "Private_Dirty", "Shared_Clean")


def generate(root: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` JPEG photos-like images (smooth colour fields plus grain) in train/<class>/."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        coarse = rng.integers(0, 256, (7, 7, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((SIDE, SIDE), Image.Resampling.BICUBIC)
        grain = rng.integers(-12, 13, (SIDE, SIDE, 3))
        arr = np.clip(np.asarray(img, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
        path = root / "train" / CLASSES[i % len(CLASSES)] / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(path, quality=90)
        paths.append(path)
    return paths


def decode_speed(paths: Sequence[Path], workers: int) -> float:
    """Images/s of a first-time decode (no cache) with ``workers`` processes."""
    from emotion_lab.data.formats.cache import BadSamples
    from emotion_lab.data.formats.decode import decode_images

    start = time.perf_counter()
    decode_images(
        paths,
        [0] * len(paths),
        image_size=SIDE,
        channels=3,
        bad=BadSamples("error"),
        source="bench",
        decode_workers=workers,
    )
    return len(paths) / (time.perf_counter() - start)


def datamodule(root: Path):  # type: ignore[no-untyped-def]
    from emotion_lab.data.datamodule import EmotionDataModule
    from emotion_lab.data.formats.folders import ImageFolders

    return EmotionDataModule(
        source=partial(ImageFolders, root), image_size=SIDE, channels=3, batch_size=256
    )


def rollup() -> dict[str, int]:
    """This process's memory from ``/proc/self/smaps_rollup``, in bytes."""
    out: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        if key in ROLLUP_KEYS:
            out[key] = int(value.split()[0]) * 1024
    return out


def child(root: Path) -> None:
    """One trial's data path: setup and an epoch of batches, memory reported around it.

    Waits for a line on stdin before each measurement so that concurrent children measure at
    the same moments (both baselines, then both loaded).
    """
    import torch

    import emotion_lab.data.datamodule  # noqa: F401 - imports belong to the baseline
    import emotion_lab.data.formats.folders  # noqa: F401

    torch.set_num_threads(1)
    torch.zeros(256, 3, SIDE, SIDE).div_(255)  # allocator warm-up, also in the baseline
    print("imported", flush=True)
    sys.stdin.readline()
    base = rollup()
    dm = datamodule(root)
    dm.setup()
    for split in ("train", "val"):
        loader = dm.train_dataloader() if split == "train" else dm.val_dataloader()
        for images, _ in loader:
            dm.prepare_batch(images, train=split == "train")
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps({"base": base, "loaded": rollup()}), flush=True)


def run_children(root: Path, k: int) -> list[dict[str, dict[str, int]]]:
    cmd = [sys.executable, "-m", "emotion_lab.bench.data", "--child", str(root)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(k)
    ]
    try:
        for step in ("imported", "ready"):
            for p in procs:
                line = p.stdout.readline().strip()  # type: ignore[union-attr]
                if line != step:
                    raise RuntimeError(f"bench child said {line!r}, expected {step!r}")
            for p in procs:
                p.stdin.write("go\n")  # type: ignore[union-attr]
                p.stdin.flush()  # type: ignore[union-attr]
        reports = [json.loads(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
    finally:
        for p in procs:
            p.wait(timeout=120)
    return reports


def delta(report: dict[str, dict[str, int]], key: str) -> int:
    return report["loaded"][key] - report["base"][key]


def warm_start(root: Path, repeats: int) -> tuple[float, float, float]:
    """Fastest setup seconds on a built cache (the least disturbed of ``repeats`` interleaved
    runs): checksum checks on, off (no ``stat`` of the array either), and after the array
    file changed (hashed once)."""
    from emotion_lab.data.formats import cache

    def once() -> float:
        start = time.perf_counter()
        datamodule(root).setup()
        return time.perf_counter() - start

    once()
    timings: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for verify in (True, False):
            cache.VERIFY_CHECKSUMS = verify
            timings[verify].append(once())
    cache.VERIFY_CHECKSUMS = True
    (array,) = (root / cache.CACHE_DIRNAME).glob("train-*.npy")
    os.utime(array)  # a changed file: the next start hashes it once
    changed = once()
    return min(timings[True]), min(timings[False]), changed


FACE_PHOTO = (320, 240)
FACE_SIZE = 112


def generate_faces(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` photos in RAF-DB's release layout (``basic/``), each with one face box file."""
    rng = np.random.default_rng(seed)
    base = root / "basic"
    for sub in ("EmoLabel", "Image/original", "Annotation/boundingbox"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    lines = []
    width, height = FACE_PHOTO
    for i in range(n):
        name = f"train_{i + 1:05d}.jpg"
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize(FACE_PHOTO, Image.Resampling.BICUBIC).save(
            base / "Image/original" / name, quality=90
        )
        side = int(rng.integers(60, 160))
        left, top = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        (base / "Annotation/boundingbox" / f"train_{i + 1:05d}_boundingbox.txt").write_text(
            f"{left} {top} {left + side} {top + side}\n"
        )
        lines.append(f"{name} {i % 7 + 1}")
    (base / "EmoLabel/list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return root


def face_crops(root: Path, cores: int, repeats: int) -> tuple[float, float, float]:
    """(images/s with 1 worker, with ``cores``, best cache reopen in seconds)."""
    from emotion_lab.data.sets.rafdb import RafDb

    speeds = []
    for workers in (1, cores):
        for cached in root.rglob(".emotion_lab_cache"):
            shutil.rmtree(cached)
        reader = RafDb(root, image_size=FACE_SIZE, images="original", decode_workers=workers)
        start = time.perf_counter()
        data = reader.load("train")
        speeds.append(len(data.labels) / (time.perf_counter() - start))
    reopen = []
    for _ in range(repeats):
        start = time.perf_counter()
        RafDb(root, image_size=FACE_SIZE, images="original").load("train")
        reopen.append(time.perf_counter() - start)
    return speeds[0], speeds[1], min(reopen)


def gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3f} GB"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gb", type=float, default=1.05, help="decoded size of the data set")
    parser.add_argument("--dir", type=Path, default=None, help="where to generate it")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--faces", type=int, default=10_000, help="photos of the crop bench (0: skip)"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child)
        return
    from emotion_lab.data.formats.decode import default_workers
    from emotion_lab.data.formats.folders import ImageFolders

    n = math.ceil(args.gb * 1e9 / (SIDE * SIDE * 3))
    decoded = n * SIDE * SIDE * 3
    work = Path(tempfile.mkdtemp(prefix="bench-data-", dir=args.dir))
    try:
        start = time.perf_counter()
        paths = generate(work, n)
        print(
            f"data set: {n} RGB JPEGs at {SIDE} px, {gb(decoded)} decoded "
            f"(generated in {time.perf_counter() - start:.0f} s)"
        )
        cores = default_workers()
        one = decode_speed(paths, 1)
        many = decode_speed(paths, cores)
        print(
            f"decode: {one:.0f} images/s with 1 worker, {many:.0f} images/s with {cores} "
            f"(all cores): speed-up {many / one:.2f}x"
        )
        ImageFolders(work, SIDE, 3, decode_workers=cores).load("train")  # the cache, once

        (single,) = run_children(work, 1)
        anon, uss = (
            delta(single, "Anonymous"),
            delta(single, "Private_Clean") + delta(single, "Private_Dirty"),
        )
        print(
            f"memory, 1 process: private anonymous +{gb(anon)} = {anon / decoded:.3f}x decoded "
            f"(target <= 0.1x); USS +{gb(uss)} = {uss / decoded:.2f}x (page-cache pages only "
            "it maps)"
        )
        pair = run_children(work, 2)
        pss = sum(delta(r, "Pss") for r in pair)
        anon2 = [delta(r, "Anonymous") for r in pair]
        print(
            f"memory, 2 concurrent processes: PSS together +{gb(pss)} = {pss / decoded:.2f}x "
            f"decoded (target <= 1.2x); anonymous +{gb(anon2[0])}, +{gb(anon2[1])}"
        )
        on, off, changed = warm_start(work, args.repeats)
        print(
            f"warm start (setup on a built cache, best of {args.repeats}): {on * 1e3:.0f} ms "
            f"with checksums, {off * 1e3:.0f} ms without: +{(on / off - 1) * 100:.1f} % "
            f"(target <= 10 %); after the array file changed: {changed * 1e3:.0f} ms (hashed once)"
        )
        if args.faces:
            faces = generate_faces(work / "faces", args.faces)
            one_w, all_w, reopen = face_crops(faces, cores, max(3, args.repeats // 3))
            print(
                f"face crops: {args.faces} photos {FACE_PHOTO[0]}x{FACE_PHOTO[1]} cropped to "
                f"their boxes at {FACE_SIZE} px: {one_w:.0f} images/s with 1 worker, "
                f"{all_w:.0f} images/s with {cores} (all cores): speed-up {all_w / one_w:.2f}x; "
                f"cache reopen {reopen * 1e3:.0f} ms"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
