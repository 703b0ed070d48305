"""A contact sheet: a grid of sample images per class, as training sees them (cropped, resized).

A person sees at a glance what a loader got wrong that no count shows: labels swapped between
two classes, faces cut off by a box convention read the wrong way, photos where faces should be.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotion_lab.viz.plots import _new_figure, save_figure

CELL_INCHES = 0.9


def pick_per_class(
    labels: np.ndarray, n_classes: int, per_class: int, seed: int = 0
) -> list[np.ndarray]:
    """Up to ``per_class`` row indices of each class, drawn without replacement by ``seed``
    (sorted, so that a sheet reads the same way every time)."""
    rng = np.random.default_rng(seed)
    out = []
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        if len(rows) > per_class:
            rows = np.sort(rng.choice(rows, per_class, replace=False))
        out.append(rows)
    return out


def plot_contact_sheet(
    rows: Sequence[np.ndarray],
    classes: Sequence[str],
    counts: Sequence[int],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """One row per class (``rows[i]``: its sample images, uint8 k×H×W×C), the class's label,
    name and image count on the left; a class with no image shows an empty row, which is
    itself worth seeing."""
    if len(rows) != len(classes) or len(counts) != len(classes):
        raise ValueError(f"{len(classes)} classes but {len(rows)} rows and {len(counts)} counts")
    cols = max([len(r) for r in rows] + [1])
    fig = _new_figure(1.6 + cols * CELL_INCHES, 0.4 + len(rows) * CELL_INCHES)
    grid = fig.add_gridspec(len(rows), cols, wspace=0.05, hspace=0.1)
    for r, (name, images) in enumerate(zip(classes, rows, strict=True)):
        for c in range(cols):
            ax = fig.add_subplot(grid[r, c])
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                img = np.asarray(images[c])
                if img.ndim != 3 or img.shape[-1] not in (1, 3):
                    raise ValueError(f"images must be H×W×1 or H×W×3; got {img.shape}")
                if img.shape[-1] == 1:
                    ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255)
                else:
                    ax.imshow(img)
            if c == 0:
                ax.set_ylabel(f"{r} {name}\n({counts[r]:,})", rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
