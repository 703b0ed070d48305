"""The config side of every command: the OmegaConf resolvers (registered once, on import of the
entry points), composing a config outside `@hydra.main`, the command's overrides, and the group
listing of `--help`."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

from emotion_lab.app.checks import check_value


def direction_to_mode(direction: str) -> str:
    """``maximize``/``minimize`` (sweeper vocabulary) → ``max``/``min`` (Lightning vocabulary);
    Lightning's own words pass through."""
    if direction in ("max", "min"):
        return direction
    check_value("objective.direction", direction)
    return "max" if direction == "maximize" else "min"


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


def task_overrides() -> list[str]:
    """This command's command-line overrides, where Hydra ran it (none for configs made in
    code: benchmarks, tests, notebooks)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def config_groups(
    hidden: Iterable[str] = (),
    groups: Iterable[str] | None = None,
    root: str | Path = CONFIG_DIR,
) -> str:
    """``group: option, option`` lines for the config groups under ``root`` except Hydra's.

    ``hidden`` holds ``group/option`` glob patterns left out of the listing: partial configs that
    other files include (``experiment/*_common``) and options meant for another command.
    ``groups`` limits the listing to the groups a command composes (None: all of them).
    """
    base = Path(root)
    patterns = [str(p) for p in hidden]
    wanted = None if groups is None else {str(g) for g in groups}
    lines = []
    for folder in sorted(p for p in base.rglob("*") if p.is_dir()):
        group = folder.relative_to(base).as_posix()
        if group == "hydra" or group.startswith("hydra/"):
            continue
        if wanted is not None and group not in wanted:
            continue
        options = [
            f.stem
            for f in sorted(folder.glob("*.yaml"))
            if not any(fnmatch.fnmatchcase(f"{group}/{f.stem}", p) for p in patterns)
        ]
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)
