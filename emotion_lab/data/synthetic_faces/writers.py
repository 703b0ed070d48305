"""Generated faces written as data sets: FER2013's CSV layout, or ``<split>/<class>/*.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotion_lab import files
from emotion_lab.data.formats.cache import SPLITS
from emotion_lab.data.formats.fer2013_csv import USAGE_BY_SPLIT, parse_fer2013_csv
from emotion_lab.data.synthetic_faces.labels import (
    CLASSES,
    check_fractions,
    check_label_noise,
    check_n,
    split_assignment,
)
from emotion_lab.data.synthetic_faces.render import generate_faces

GENERATOR_VERSION = 2
"""Bump whenever a change to this package changes the images or labels a seed produces: it is
part of the cached CSV's name."""


def csv_filename(n: int, seed: int, label_noise: float) -> str:
    """The name under which a data root caches the CSV for these settings and this generator.

    ``GENERATOR_VERSION`` is in the name so that a changed renderer never reuses a stale file.
    """
    return f"synthetic_fer2013_v{GENERATOR_VERSION}_n{n}_s{seed}_ln{label_noise}.csv"


def write_fer2013_csv(
    path: str | Path,
    n: int = 12000,
    seed: int = 0,
    label_noise: float = 0.05,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    progress: bool = True,
    **difficulty: object,
) -> Path:
    """Generate ``n`` faces and write them in FER2013's CSV layout (rows grouped by Usage)."""
    check_n(n)
    check_label_noise(label_noise)
    fractions = check_fractions(split_fractions)
    path = Path(path)
    images, labels, _ = generate_faces(n, seed, label_noise, progress=progress, **difficulty)
    split = split_assignment(labels, fractions, seed)
    order = np.argsort(split, kind="stable")
    usage = [USAGE_BY_SPLIT[s] for s in SPLITS]  # indexed like split_assignment
    flat = images.reshape(n, -1)
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        fh.write("emotion,pixels,Usage\n")
        for i in order:
            fh.write(_csv_row(int(labels[i]), flat[i], usage[split[i]]))
    return path


def _csv_row(label: int, pixels: np.ndarray, usage: str) -> str:
    return f"{label},{' '.join(map(str, pixels.tolist()))},{usage}\n"


def export_image_folders(csv_path: str | Path, root: str | Path) -> Path:
    """Write ``root/<split>/<class>/<index>.png`` from the CSV, as the folder loader expects.

    The tree is built through :func:`emotion_lab.files.atomic_dir`, so ``root`` is either absent
    or complete (and readable by others). An existing non-empty ``root`` is left alone (error),
    never merged.
    """
    from PIL import Image

    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root}: already exists and is not empty; remove it or pick another")
    data = parse_fer2013_csv(Path(csv_path), len(CLASSES))
    with files.atomic_dir(root) as tmp:
        for split, decoded in data.items():
            for name in CLASSES:
                (tmp / split / name).mkdir(parents=True)
            for i, (image, label) in enumerate(zip(decoded.images, decoded.labels, strict=True)):
                Image.fromarray(image[..., 0], mode="L").save(
                    tmp / split / CLASSES[label] / f"{i:05d}.png"
                )
    return root
