"""Optuna samplers and pruners built from the sweeper's plain config (name + keyword options).

Pruners are rebuilt inside each trial's job from the spec stored on the study, because the job
may run in another process or on another machine than the sweeper.

``pruner_kwargs`` holds three kinds of keys:

- ``floor`` and ``grace``: the floor rule, composed with any pruner but ``none``
  (:class:`FloorPruner`);
- a pruner's name with a map (``median: {n_warmup_steps: 1}``, ``asha: {...}``): options used
  only when that pruner is selected, so ``hydra.sweeper.pruner=asha`` switches with one override;
- any other key: an option of the selected pruner (``n_startup_trials: 4``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

SAMPLERS = ("tpe", "random", "cmaes", "grid")
PRUNERS = ("none", "median", "hyperband", "asha")
FLOOR_KEYS = ("floor", "grace")


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


def _not_better(value: float, reference: float, direction: StudyDirection) -> bool:
    """``value`` ties ``reference`` or is worse, in the study's direction."""
    if direction == StudyDirection.MAXIMIZE:
        return value <= reference
    return value >= reference


def _best_so_far(trial: FrozenTrial, direction: StudyDirection) -> float:
    values = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
    if not values:
        return math.nan
    return max(values) if direction == StudyDirection.MAXIMIZE else min(values)


class MedianPruner(optuna.pruners.BasePruner):
    """Optuna's median rule, except that a trial tying the median is pruned too.

    A trial is pruned at step ``s`` when its best value so far is *not better* than the median of
    the completed trials' values at ``s``. Optuna's own ``MedianPruner`` keeps ties; with
    accuracies that sit at the majority class for several trials, the median is that level and
    the trials stuck there would never be pruned. Checks start once ``n_startup_trials`` trials
    completed and at step ``n_warmup_steps``, then every ``interval_steps`` steps, and need
    ``n_min_trials`` completed trials that reported step ``s``.
    """

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        for key, value, least in (
            ("n_startup_trials", n_startup_trials, 0),
            ("n_warmup_steps", n_warmup_steps, 0),
            ("interval_steps", interval_steps, 1),
            ("n_min_trials", n_min_trials, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{key} must be an integer >= {least}, got {value!r}")
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps
        self.n_min_trials = n_min_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return False
        if (step - self.n_warmup_steps) % self.interval_steps:
            return False
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not completed or len(completed) < self.n_startup_trials:
            return False
        others = [
            t.intermediate_values[step]
            for t in completed
            if step in t.intermediate_values and not math.isnan(t.intermediate_values[step])
        ]
        if len(others) < self.n_min_trials:
            return False
        best = _best_so_far(trial, study.direction)
        if math.isnan(best):
            return True
        return _not_better(best, statistics.median(others), study.direction)


class FloorPruner(optuna.pruners.BasePruner):
    """Prunes a trial that never got past ``floor`` in its first ``grace`` reports; else asks
    ``inner``.

    The floor is a level that means "learnt nothing", such as the majority-class accuracy: from
    the ``grace``-th report on, a trial whose best value so far is not better than the floor
    (ties included) stops, however few trials have completed. A trial that climbed above the
    floor once is left to ``inner``.
    """

    def __init__(self, inner: optuna.pruners.BasePruner, floor: float, grace: int = 1) -> None:
        if isinstance(floor, bool) or not isinstance(floor, int | float) or math.isnan(floor):
            raise ValueError(f"floor must be a number, got {floor!r}")
        if isinstance(grace, bool) or not isinstance(grace, int) or grace < 1:
            raise ValueError(f"grace must be a positive integer (reports), got {grace!r}")
        self.inner = inner
        self.floor = float(floor)
        self.grace = grace

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if len(trial.intermediate_values) >= self.grace:
            best = _best_so_far(trial, study.direction)
            if math.isnan(best) or _not_better(best, self.floor, study.direction):
                return True
        return bool(self.inner.prune(study, trial))


def _pruner_options(name: str, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict]:
    """Split ``pruner_kwargs`` into the floor rule's keys and the selected pruner's options."""
    floor = {k: options[k] for k in FLOOR_KEYS if k in options}
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key in FLOOR_KEYS:
            continue
        if key in PRUNERS:
            if not isinstance(value, Mapping):
                raise ValueError(
                    f"hydra.sweeper.pruner_kwargs.{key}: expected a map of {key}'s options, "
                    f"got {value!r}"
                )
            if key == name:
                kwargs.update(value)
            continue
        kwargs[key] = value
    return floor, kwargs


def build_pruner(name: str, options: Mapping[str, Any] | None = None) -> optuna.pruners.BasePruner:
    """Pruner ``name`` with the floor rule on top when ``floor`` is set.

    ``none`` never prunes (the trials still report their curves) and ignores ``pruner_kwargs``,
    so that a study's pruning, the floor included, is switched off with one override
    (``hydra.sweeper.pruner=none``).
    """
    if name not in PRUNERS:
        raise ValueError(f"hydra.sweeper.pruner: '{name}' is not one of {list(PRUNERS)}")
    if name == "none":
        return optuna.pruners.NopPruner()
    floor, kwargs = _pruner_options(name, dict(options or {}))
    pruner: optuna.pruners.BasePruner
    try:
        if name == "median":
            pruner = MedianPruner(**kwargs)
        elif name == "hyperband":
            pruner = optuna.pruners.HyperbandPruner(**kwargs)
        else:
            pruner = optuna.pruners.SuccessiveHalvingPruner(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"hydra.sweeper.pruner_kwargs ({name}): {exc}") from None
    if floor.get("floor") is None:  # floor: null switches the rule off, whatever the grace
        return pruner
    try:
        return FloorPruner(pruner, floor["floor"], floor.get("grace", 1))
    except ValueError as exc:
        raise ValueError(f"hydra.sweeper.pruner_kwargs: {exc}") from None
