"""Class balancing as S003 does it: top minority classes up to target counts with augmented copies.

The paper adds augmented copies of under-represented classes until each class reaches its target
count and leaves every original image as it is; a class already at or above its target is not
cut. The copies are made once, when the splits are built, exactly as Keras' ``augment_classes``
wrote them before ``fit``: the training set then has a fixed size (originals + copies), every
epoch sees each of its images once, and under DDP Lightning's ordinary distributed sampler splits
it like any other data set. Training batches are then not augmented again.

Copies are drawn from a generator seeded by the data module's ``split_seed``, so every DDP rank
and every parallel trial builds bit-identical copies without talking to the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emotion_lab.data.errors import DataError
from emotion_lab.errors import ConfigError

Targets = Mapping[str, int] | str

_CHUNK = 1024  # images augmented at a time: bounds the float working memory


@dataclass(frozen=True)
class ClassBalance:
    """The training set's class counts before and after balancing, for reports and plots.

    ``how`` says what ``after`` is: ``"copies"`` (exact counts with the added copies) or
    ``"sampler"`` (what the balanced sampler draws per epoch, on average).
    """

    classes: tuple[str, ...]
    before: tuple[int, ...]
    after: tuple[float, ...]
    how: str

    @property
    def added(self) -> int:
        return int(round(sum(self.after) - sum(self.before))) if self.how == "copies" else 0


def check_targets(targets: Any) -> Targets | None:
    """``data.balance.targets`` as given: null, ``max`` or a mapping class name → count >= 0."""
    if targets is None or targets == "max":
        return targets
    if not isinstance(targets, Mapping):
        raise ConfigError(
            f"data.balance.targets must be null, 'max' or a mapping class → count, got {targets!r}"
        )
    for name, count in targets.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigError(f"data.balance.targets.{name} must be an integer >= 0, got {count!r}")
    return dict(targets)


def resolve_targets(targets: Targets, classes: Sequence[str], counts: Sequence[int]) -> list[int]:
    """Each class's count after topping up: ``max(count, target)``; an unlisted class keeps its
    count. ``max`` tops every class up to the largest one."""
    if targets == "max":
        return [max(counts)] * len(counts)
    assert isinstance(targets, Mapping)
    unknown = sorted(set(targets) - set(classes))
    if unknown:
        raise ConfigError(
            f"data.balance.targets names unknown class(es) {', '.join(unknown)} "
            f"(the data set's classes: {', '.join(classes)})"
        )
    return [max(n, int(targets.get(c, 0))) for c, n in zip(classes, counts, strict=True)]


def copy_sources(labels: np.ndarray, goal: Sequence[int], seed: int) -> np.ndarray:
    """Rows of ``labels`` to copy so that class ``c`` reaches ``goal[c]``, class by class.

    Each image of a class is copied ``need // n`` times and a random ``need % n`` of them once
    more, so the copies spread as evenly as possible over the originals (our choice: the paper
    does not say how its generator picked the images it augmented).
    """
    rng = np.random.default_rng(seed)
    picks: list[np.ndarray] = []
    for c, target in enumerate(goal):
        rows = np.flatnonzero(labels == c)
        need = int(target) - len(rows)
        if need <= 0:
            continue
        if len(rows) == 0:
            raise DataError(
                f"data.balance.targets: class {c} has no training image to copy up to {target}"
            )
        whole, rest = divmod(need, len(rows))
        extra = np.sort(rng.choice(rows, size=rest, replace=False))
        picks.append(np.concatenate([np.tile(rows, whole), extra]))
    return np.concatenate(picks).astype(np.int64) if picks else np.empty(0, dtype=np.int64)


def augmented_copies(
    images_at: Callable[[torch.Tensor], torch.Tensor],
    sources: np.ndarray,
    augment: Callable[[torch.Tensor], torch.Tensor],
    seed: int,
) -> torch.Tensor:
    """uint8 augmented copies of the images at ``sources`` (``images_at`` gathers uint8 rows).

    The augmentation works on floats in [0, 1] and its result is rounded back to uint8, so the
    copies sit in the cache's format next to the originals. The global RNG is left as it was.
    """
    chunks: list[torch.Tensor] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(sources), _CHUNK):
            rows = torch.as_tensor(sources[start : start + _CHUNK], dtype=torch.long)
            x = augment(images_at(rows).float().div_(255))
            chunks.append(x.mul_(255).round_().clamp_(0, 255).to(torch.uint8))
    if not chunks:
        raise ValueError("no copies to make")
    return torch.cat(chunks)
