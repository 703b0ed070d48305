"""OmegaConf resolvers used by the configs; registered once, on import of the entry points."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

from emotion_lab.errors import ConfigError

_DIRECTIONS = {"maximize": "max", "minimize": "min", "max": "max", "min": "min"}


def direction_to_mode(direction: str) -> str:
    """``maximize``/``minimize`` (sweeper vocabulary) → ``max``/``min`` (Lightning vocabulary)."""
    if direction not in _DIRECTIONS:
        raise ConfigError(
            f"objective.direction must be 'maximize' or 'minimize', got {direction!r}"
        )
    return _DIRECTIONS[direction]


def gpu_else(accelerator: str, on_gpu: Any, otherwise: Any) -> Any:
    """``on_gpu`` when ``trainer.accelerator`` means a GPU here (``auto`` with CUDA present)."""
    if accelerator == "auto":
        import torch

        return on_gpu if torch.cuda.is_available() else otherwise
    return on_gpu if accelerator in ("gpu", "cuda") else otherwise


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("el.mode"):
        OmegaConf.register_new_resolver("el.mode", direction_to_mode)
    if not OmegaConf.has_resolver("el.gpu_else"):
        OmegaConf.register_new_resolver("el.gpu_else", gpu_else)
    if not OmegaConf.has_resolver("el.config_groups"):  # the group listing of --help
        from emotion_lab.app.console import config_groups

        OmegaConf.register_new_resolver("el.config_groups", config_groups)


CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


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
