"""OmegaConf resolvers used by the configs; registered once, on import of the entry points."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

_DIRECTIONS = {"maximize": "max", "minimize": "min", "max": "max", "min": "min"}


def direction_to_mode(direction: str) -> str:
    """``maximize``/``minimize`` (sweeper vocabulary) → ``max``/``min`` (Lightning vocabulary)."""
    if direction not in _DIRECTIONS:
        raise ValueError(f"objective.direction must be 'maximize' or 'minimize', got {direction!r}")
    return _DIRECTIONS[direction]


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("el.mode"):
        OmegaConf.register_new_resolver("el.mode", direction_to_mode)


CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose_config(
    name: str = "train", overrides: Sequence[str] = (), output_dir: str | None = None
) -> DictConfig:
    """Compose a config outside ``@hydra.main`` (benchmarks, tests, notebooks).

    ``paths.output_dir`` normally comes from Hydra's run folder; here it is given or left under
    ``outputs/``.
    """
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = output_dir or f"outputs/{name}/composed"
    return cfg
