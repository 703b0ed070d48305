"""Fixed splits for sets released without one (ExpW, FI, WEBEmo's sadness subset).

Two users who download the same release must train and test on the same images, or their
numbers cannot be compared. The split is a pure function of the release's listing: samples are
sorted by their key (the path relative to the release, plus a face id where a photo holds
several faces), shuffled per class by a fixed seed and cut by the set's ratios, so it is
stratified and does not depend on the order files are listed in, on the machine, or on
``data.split_seed`` (which only cuts validation from train). The split is written beside the
cache as ``<split>\\t<key>`` lines; its digest is printed and logged with the run.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion_lab import files
from emotion_lab.data.formats.base import Split
from emotion_lab.errors import ConfigError

SPLIT_ORDER: tuple[Split, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class FixedSplit:
    """The ratios a set's papers use, and the seed that makes the split the same for all."""

    ratios: Mapping[str, float]
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.ratios) - set(SPLIT_ORDER))
        if unknown:
            raise ConfigError(f"split ratios name unknown split(s) {', '.join(unknown)}")
        values = [float(v) for v in self.ratios.values()]
        if any(v < 0 or not math.isfinite(v) for v in values) or not math.isclose(
            sum(values), 1.0, abs_tol=1e-6
        ):
            raise ConfigError(f"split ratios must be >= 0 and sum to 1; got {dict(self.ratios)}")
        if float(self.ratios.get("train", 0)) <= 0:
            raise ConfigError("split ratios must give train a share")

    def describe(self) -> str:
        shares = " / ".join(
            f"{s} {100 * float(self.ratios[s]):g} %" for s in SPLIT_ORDER if s in self.ratios
        )
        return f"{shares} (stratified, seed {self.seed})"


def assign(keys: Sequence[str], labels: Sequence[int], split: FixedSplit) -> list[Split]:
    """The split of each sample: per class, sorted keys shuffled by ``split.seed`` and cut by
    the ratios (largest remainders, so each class's counts add up exactly)."""
    if len(set(keys)) != len(keys):
        raise ValueError("fixed split keys must be unique")
    out: list[Split] = ["train"] * len(keys)
    names = [s for s in SPLIT_ORDER if float(split.ratios.get(s, 0)) > 0]
    ratios = np.array([float(split.ratios[s]) for s in names])
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    for label in sorted(by_class):
        members = sorted(by_class[label], key=keys.__getitem__)
        rng = np.random.default_rng([split.seed, label])
        order = [members[j] for j in rng.permutation(len(members))]
        counts = _apportion(len(order), ratios)
        start = 0
        for name, count in zip(names, counts, strict=True):
            for i in order[start : start + count]:
                out[i] = name
            start += count
    return out


def _apportion(n: int, ratios: np.ndarray) -> list[int]:
    """``n`` split by ``ratios`` into integers that sum to ``n`` (largest remainder)."""
    exact = ratios * n
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - int(counts.sum())]:
        counts[i] += 1
    return counts.tolist()


def split_digest(keys: Sequence[str], splits: Sequence[str]) -> str:
    """Short hash of the split list: equal digests mean the same images in the same splits."""
    h = hashlib.sha256()
    for key, split in sorted(zip(keys, splits, strict=True)):
        h.update(f"{split}\t{key}\n".encode())
    return h.hexdigest()[:12]


def write_split_list(path: Path, keys: Sequence[str], splits: Sequence[str]) -> bool:
    """The split as ``<split>\\t<key>`` lines (sorted), written atomically; False when the
    folder is not writable (the split itself does not depend on the file)."""
    lines = "".join(f"{s}\t{k}\n" for k, s in sorted(zip(keys, splits, strict=True)))
    try:
        files.write_text(path, lines)
    except OSError:
        return False
    return True
