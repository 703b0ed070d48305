"""Optuna samplers and pruners built from the sweeper's plain config (name + keyword options).

Pruners are rebuilt inside each trial's job from the spec stored on the study, because the job
may run in another process or on another machine than the sweeper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

SAMPLERS = ("tpe", "random", "cmaes", "grid")
PRUNERS = ("none", "median", "hyperband")


def build_sampler(
    name: str,
    seed: int | None,
    options: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> optuna.samplers.BaseSampler:
    """Sampler ``name`` seeded with ``seed``; ``grid`` is the value lists for ``grid``."""
    kwargs = dict(options or {})
    try:
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, **kwargs)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed, **kwargs)
        if name == "cmaes":
            try:
                import cmaes  # noqa: F401  (optuna imports it lazily, with a vaguer error)
            except ImportError:
                raise ValueError(
                    "hydra.sweeper.sampler=cmaes needs the 'cmaes' package (pip install cmaes)"
                ) from None
            return optuna.samplers.CmaEsSampler(seed=seed, **kwargs)
        if name == "grid":
            assert grid is not None
            return optuna.samplers.GridSampler(dict(grid), seed=seed, **kwargs)
    except TypeError as exc:
        raise ValueError(f"hydra.sweeper.sampler_kwargs: {exc}") from None
    raise ValueError(f"hydra.sweeper.sampler: '{name}' is not one of {list(SAMPLERS)}")


def build_pruner(name: str, options: Mapping[str, Any] | None = None) -> optuna.pruners.BasePruner:
    """Pruner ``name``; ``none`` never prunes but the trials still report their curves.

    ``none`` ignores ``pruner_kwargs`` so that a study's pruning can be switched off with one
    override (``hydra.sweeper.pruner=none``) without also clearing its options.
    """
    kwargs = dict(options or {})
    try:
        if name == "none":
            return optuna.pruners.NopPruner()
        if name == "median":
            return optuna.pruners.MedianPruner(**kwargs)
        if name == "hyperband":
            return optuna.pruners.HyperbandPruner(**kwargs)
    except TypeError as exc:
        raise ValueError(f"hydra.sweeper.pruner_kwargs: {exc}") from None
    raise ValueError(f"hydra.sweeper.pruner: '{name}' is not one of {list(PRUNERS)}")
