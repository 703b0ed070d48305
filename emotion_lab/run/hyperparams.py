"""The hyperparameters every logger gets: what a person compares runs by, not the plumbing.

The resolved run config is ~200 values of ``_target_`` strings and Trainer defaults, in which
the dashboard's parallel-coordinates and parameter-importance panels cannot find the choices
that matter. This view keeps the settings of the model, loss, optimizer, schedule, data and
augmentation (without ``_target_``/``_partial_`` keys), the Trainer settings a recipe varies,
the Hydra group choices as flat ``choices/<group>`` keys, and the command-line overrides. A
sweep's storage URL (which may hold a password) is never part of it.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

SECTIONS = (
    "model", "loss", "optimizer", "scheduler", "init", "data", "augmentation",
    "objective", "performance", "cv", "repeat",
)  # fmt: skip
"""Config sections kept whole (minus plumbing keys)."""

TRAINER_KEYS = (
    "max_epochs", "precision", "accelerator", "devices", "num_nodes", "strategy",
    "gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches", "deterministic",
)  # fmt: skip
"""The Trainer settings a recipe varies; the rest are Lightning's defaults."""

PLUMBING = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")
TRIAL_KEYS = ("number", "study_name", "sweeper")


def comparison_config(
    cfg: DictConfig, choices: dict[str, Any] | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The run's hyperparameters for the loggers (see the module docstring)."""
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(resolved, dict)
    out: dict[str, Any] = {}
    for key in ("task_name", "seed", "tags", "notes"):
        if resolved.get(key) is not None:
            out[key] = resolved[key]
    for section in SECTIONS:
        node = resolved.get(section)
        if node is not None:
            out[section] = _without_plumbing(node)
    trainer = resolved.get("trainer") or {}
    out["trainer"] = {k: trainer[k] for k in TRAINER_KEYS if k in trainer}
    trial = resolved.get("trial") or {}
    if trial.get("number") is not None:
        out["trial"] = {k: trial.get(k) for k in TRIAL_KEYS}
    for group, choice in sorted((choices or {}).items()):
        if not group.startswith("hydra/") and choice is not None:
            out[f"choices/{group}"] = str(choice)
    if overrides:
        out["overrides"] = " ".join(overrides)
    return out


def hydra_choices() -> dict[str, Any]:
    """The group options Hydra composed this job from (empty outside ``@hydra.main``)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {}
    return dict(HydraConfig.get().runtime.choices)


def _without_plumbing(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_plumbing(v) for k, v in node.items() if k not in PLUMBING}
    if isinstance(node, list):
        return [_without_plumbing(v) for v in node]
    return node
