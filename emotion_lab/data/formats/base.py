"""What every on-disk format hands to the DataModule: decoded uint8 arrays per split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

Split = Literal["train", "val", "test"]
OnBadSample = Literal["error", "skip"]


@dataclass(frozen=True)
class CacheRef:
    """Where a decoded split is stored (``stem``) and what it was built from (``key``), so that
    arrays derived from it (other sizes, other channels) can be cached beside it."""

    stem: Path
    key: str


@dataclass(frozen=True)
class ImageSet:
    """One split, decoded once: ``images`` is uint8 N×H×W×C (C = 1 or 3), ``labels`` int64 N.

    ``targets``, when set, are soft labels (float32 N×classes, rows summing to 1: FER+'s vote
    distributions) that training uses instead of ``labels``; ``labels`` are then their argmax,
    which sampling, stratification and the metrics use.

    ``images`` is usually a read-only memory map of the cache file, shared by every process
    that opens it. ``skipped`` counts this split's bad samples; ``unassigned`` counts bad rows
    whose split could not be told (the same rows for every split of the file, so count them
    once). ``cache`` is None when the split lives only in memory.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    unassigned: int = 0
    cache: CacheRef | None = None
    targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"{self.source}: images must be uint8 N×H×W×C, got {self.images.dtype} {self.images.shape}"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"{self.source}: {len(self.images)} images but {len(self.labels)} labels"
            )
        if self.targets is not None and (
            self.targets.dtype != np.float32
            or self.targets.shape != (len(self.labels), len(self.classes))
        ):
            raise ValueError(
                f"{self.source}: targets must be float32 {len(self.labels)}×{len(self.classes)}, "
                f"got {self.targets.dtype} {self.targets.shape}"
            )


class DataSource(Protocol):
    """A data set on disk. ``classes`` is fixed by construction; ``load`` decodes one split."""

    classes: tuple[str, ...]

    def available_splits(self) -> tuple[Split, ...]: ...

    def load(self, split: Split) -> ImageSet: ...
