"""A labelled picture of what the generator draws: one row of faces per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotion_lab import files
from emotion_lab.data.synthetic_faces.labels import CLASSES
from emotion_lab.data.synthetic_faces.render import render_faces


def save_sample_grid(path: str | Path, per_class: int = 10, seed: int = 0) -> Path:
    """A PNG with one row per class (labelled) of ``per_class`` faces rendered at the defaults."""
    if per_class <= 0:
        raise ValueError(f"per_class must be positive, got {per_class!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    images = render_faces(labels, seed)
    fig, axes = plt.subplots(
        len(CLASSES), per_class, figsize=(per_class * 0.9 + 1.0, len(CLASSES) * 0.95), squeeze=False
    )
    for r, name in enumerate(CLASSES):
        for col in range(per_class):
            ax = axes[r][col]
            ax.imshow(
                images[r * per_class + col], cmap="gray", vmin=0, vmax=255, interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(f"synthetic FER2013 faces (seed {seed})", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    try:
        with files.atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        plt.close(fig)
    return path
