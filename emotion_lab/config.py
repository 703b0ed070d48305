"""OmegaConf resolvers used by the configs; registered once, on import of the entry points."""

from __future__ import annotations

from omegaconf import OmegaConf

_DIRECTIONS = {"maximize": "max", "minimize": "min", "max": "max", "min": "min"}


def direction_to_mode(direction: str) -> str:
    """``maximize``/``minimize`` (sweeper vocabulary) → ``max``/``min`` (Lightning vocabulary)."""
    if direction not in _DIRECTIONS:
        raise ValueError(f"objective.direction must be 'maximize' or 'minimize', got {direction!r}")
    return _DIRECTIONS[direction]


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("el.mode"):
        OmegaConf.register_new_resolver("el.mode", direction_to_mode)
