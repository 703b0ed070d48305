"""Which emotion each generated face shows, which label it is given, and which split it is in.

Clean labels follow FER2013's class proportions exactly; a share of them is then moved to another
class (label noise), and splits are drawn per class so that each keeps those proportions.
"""

from __future__ import annotations

import numpy as np

from emotion_lab.data.formats.fer2013_csv import FER2013_CLASSES as CLASSES
from emotion_lab.errors import ConfigError

FER2013_CLASS_COUNTS: dict[str, int] = {
    "angry": 4953,
    "disgust": 547,
    "fear": 5121,
    "happy": 8989,
    "sad": 6077,
    "surprise": 4002,
    "neutral": 6198,
}
"""Images per class in the real FER2013 (all three splits), whose proportions the labels copy."""


def check_n(n: int) -> None:
    """Reject a face count that is not a positive integer."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ConfigError(f"n must be a positive integer, got {n!r}")


def check_label_noise(label_noise: float) -> None:
    """Reject a label-noise share outside [0, 1)."""
    if not 0.0 <= label_noise < 1.0:
        raise ConfigError(f"label_noise must be in [0, 1), got {label_noise!r}")


def check_fractions(split_fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    """Train/val/test shares as three floats summing to 1."""
    fr = tuple(float(f) for f in split_fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ConfigError(
            f"split_fractions must be three non-negative numbers summing to 1, got {split_fractions!r}"
        )
    return fr  # type: ignore[return-value]


def class_quota(n: int) -> np.ndarray:
    """Images per class in FER2013's proportions, by largest remainder so they sum to ``n``."""
    counts = np.array([FER2013_CLASS_COUNTS[c] for c in CLASSES], dtype=np.float64)
    exact = counts / counts.sum() * n
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    return quota


def flip_labels(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Move exactly round(share·n) labels to a different, uniformly chosen class."""
    noisy = labels.copy()
    k = int(round(share * len(labels)))
    if k:
        idx = rng.choice(len(labels), size=k, replace=False)
        noisy[idx] = (labels[idx] + rng.integers(1, len(CLASSES), size=k)) % len(CLASSES)
    return noisy


def sample_labels(
    n: int, seed: int = 0, label_noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """The (noisy, clean) labels ``generate_faces`` uses, without rendering any image."""
    check_n(n)
    check_label_noise(label_noise)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    clean = rng.permutation(np.repeat(np.arange(len(CLASSES)), class_quota(n))).astype(np.int64)
    return flip_labels(clean, label_noise, rng), clean


def split_assignment(
    labels: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Split index per image (0 train, 1 val, 2 test), stratified by label, deterministic."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    split = np.empty(len(labels), np.int64)
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        n_val = min(n_val, len(idx) - n_train)
        split[idx[:n_train]] = 0
        split[idx[n_train : n_train + n_val]] = 1
        split[idx[n_train + n_val :]] = 2
    return split
