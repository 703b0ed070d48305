"""Optuna samplers and pruners built from their ``_target_`` nodes, and our two pruners.

The sweeper picks a node from its ``samplers`` / ``pruners`` catalogue (``_config``); here it
becomes an object. Samplers are rebuilt for every proposal with a per-trial seed (and the grid's
points for a ``GridSampler``). Pruners are rebuilt inside each trial's job from the spec stored on
the study, because the job may run in another process or on another machine than the sweeper.
The floor rule (``floor``, ``floor_grace``) wraps any pruner but ``NopPruner``, so that
``hydra.sweeper.pruner=none`` switches every pruning off with one override.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError


def build_sampler(
    node: Mapping[str, Any],
    seed: int | None,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> optuna.samplers.BaseSampler:
    """The sampler of ``node`` seeded with ``seed``; a grid sampler also gets ``grid``."""
    cls = target_class(node, "sampler", optuna.samplers.BaseSampler)
    extra: dict[str, Any] = {"seed": seed}
    if issubclass(cls, optuna.samplers.GridSampler):
        assert grid is not None
        extra["search_space"] = {k: list(v) for k, v in grid.items()}
    if issubclass(cls, optuna.samplers.CmaEsSampler):
        try:
            import cmaes  # noqa: F401  (optuna imports it lazily, with a vaguer error)
        except ImportError:
            raise SweepConfigError(
                "hydra.sweeper.sampler: CmaEsSampler needs the 'cmaes' package (pip install cmaes)"
            ) from None
    return _instantiate(node, "sampler_kwargs", **extra)


def is_grid(node: Mapping[str, Any]) -> bool:
    return issubclass(target_class(node, "sampler", object), optuna.samplers.GridSampler)


def target_class(node: Mapping[str, Any], what: str, base: type) -> type:
    """The class ``node['_target_']`` names, which must be a ``base``."""
    target = node.get("_target_")
    try:
        cls = get_class(str(target))
    except Exception as exc:
        raise SweepConfigError(f"hydra.sweeper.{what}: cannot import {target!r} ({exc})") from None
    if not issubclass(cls, base):
        raise SweepConfigError(
            f"hydra.sweeper.{what}: {target} is not a {base.__module__}.{base.__qualname__}"
        )
    return cls


def _instantiate(node: Mapping[str, Any], options_key: str, **extra: Any) -> Any:
    """``instantiate(node, **extra)`` with a bad option named in one line."""
    try:
        return instantiate(dict(node), _convert_="all", **extra)
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        raise SweepConfigError(
            f"hydra.sweeper.{options_key} ({node.get('_target_')}): {cause}"
        ) from None


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


def build_pruner(
    node: Mapping[str, Any], floor: float | None = None, grace: int = 1
) -> optuna.pruners.BasePruner:
    """The pruner of ``node``, inside the floor rule when ``floor`` is set.

    ``NopPruner`` never prunes (the trials still report their curves) and ignores the floor.
    """
    target_class(node, "pruner", optuna.pruners.BasePruner)
    pruner = _instantiate(node, "pruner_kwargs")
    if isinstance(pruner, optuna.pruners.NopPruner) or floor is None:
        return pruner
    try:
        return FloorPruner(pruner, floor, grace)
    except ValueError as exc:
        raise SweepConfigError(f"hydra.sweeper.floor: {exc}") from None


def pruner_spec(node: Mapping[str, Any], floor: float | None, grace: int) -> dict[str, Any]:
    """What a job needs to rebuild the pruner (stored on the study, read by :func:`from_spec`)."""
    return {"node": dict(node), "floor": floor, "grace": grace}


def from_spec(spec: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    if not spec or "node" not in spec:  # no pruning configured (or a study of an old version)
        return optuna.pruners.NopPruner()
    return build_pruner(spec["node"], spec.get("floor"), int(spec.get("grace") or 1))
