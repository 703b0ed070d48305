"""How hard the generated benchmark is: ranges of pose, photometry, occlusion and expression
strength, checked (unknown keys named) before any face is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from emotion_lab.errors import ConfigError


@dataclass(frozen=True)
class Difficulty:
    """The knobs that make the benchmark hard.

    The defaults were tuned so that a small CNN (conv32-conv64-dense, Adam 1e-3, batch 128)
    reaches about two thirds test accuracy after 5 epochs: far above the 25 % majority class,
    far below the ~95 % that the flipped labels leave reachable.
    """

    intensity: tuple[float, float] = (0.45, 1.0)  # strength range of an emotion's prototype AUs
    leak_prob: float = 0.3  # chance that each non-prototype AU fires weakly
    leak_max: float = 0.3  # upper bound of such a weak activation
    rotation_deg: float = 8.0  # in-plane head rotation, ± degrees
    scale: tuple[float, float] = (0.92, 1.08)  # face size relative to the canonical crop
    shift_px: float = 2.0  # translation, ± pixels on each axis
    yaw: float = 0.25  # fake out-of-plane turn: features slide and one side compresses
    noise: tuple[float, float] = (0.005, 0.035)  # Gaussian pixel-noise σ range (intensity 0-1)
    blur: float = 0.6  # largest mix towards a σ≈1 px blurred copy
    occlusion: float = 0.08  # probability of a hand, sunglasses, patch or edge occluder
    lighting: float = 0.4  # largest strength of the linear lighting gradient

    def __post_init__(self) -> None:
        for name in ("intensity", "scale", "noise"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 2:
                raise ConfigError(f"{name} must be a (low, high) pair, got {value!r}")
            lo, hi = value
            if not 0.0 <= lo <= hi:
                raise ConfigError(f"{name} must be a range 0 <= low <= high, got {(lo, hi)}")
        for name in ("leak_prob", "leak_max", "occlusion", "blur"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        if self.intensity[1] > 1.0:
            raise ConfigError(f"intensity must lie within [0, 1], got {self.intensity}")
        for name in ("rotation_deg", "shift_px", "yaw", "lighting"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


def make_difficulty(**difficulty: object) -> Difficulty:
    """Build a ``Difficulty`` from keyword overrides, naming any key it does not know."""
    known = {f.name for f in fields(Difficulty)}
    for key in difficulty:
        if key not in known:
            raise ConfigError(f"unknown difficulty key {key!r}; known: {', '.join(sorted(known))}")
    # Ranges may come from a config as lists (or omegaconf ListConfig): freeze them to tuples.
    values = {
        k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in difficulty.items()
    }
    return Difficulty(**values)  # type: ignore[arg-type]
