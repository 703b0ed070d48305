"""What a trial's job may use from the plugin: the trial attributes the sweeper reads back, the
study's storage and pruner, and the command that re-runs a job on its own.

Hydra imports this module at every start-up (its name has no ``_``), so it stays light: Optuna is
imported by the functions, on first use, never here (``_storage`` imports it when it opens a
storage, ``_optuna_algos`` when a pruner is built).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hydra_plugins.emotion_lab_sweeper._entry import ENTRY_ENV, single_run_command
from hydra_plugins.emotion_lab_sweeper._storage import (
    DEFAULT_DB_NAME,
    STORAGE_URL_ENV,
    mask_url,
    open_storage,
)

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEFAULT_DB_NAME",
    "ENTRY_ENV",
    "PLANNED_EPOCHS_ATTR",
    "PRUNED_ATTR",
    "RepeatedValue",
    "STORAGE_URL_ENV",
    "STUDY_META_ATTR",
    "mask_url",
    "open_storage",
    "pruner_of",
    "single_run_command",
]

STUDY_META_ATTR = "emotion_lab.sweep"  # study user attr: pruner spec, search space, sweeper
PRUNED_ATTR = "pruned_at_step"  # trial user attr: the job stopped because the pruner said so
PLANNED_EPOCHS_ATTR = "planned_epochs"  # trial user attr: validations a full run would report


class RepeatedValue(float):
    """An objective that aggregates several runs of one configuration (seed repeats).

    A task function returns it instead of a float: the sweeper optimises the value itself and
    the leaderboard shows the runs' mean with the 95 % interval ``ci95 = (low, high)`` that the
    app computed (the app owns its statistics; the plugin derives none). Without ``ci95`` the
    leaderboard shows the bare mean and n, and leaves the interval cells empty.
    """

    samples: tuple[float, ...]
    ci95: tuple[float, float] | None

    def __new__(
        cls, value: float, samples: Sequence[float], ci95: Sequence[float] | None = None
    ) -> RepeatedValue:
        obj = super().__new__(cls, value)
        obj.samples = tuple(float(s) for s in samples)
        if ci95 is not None and len(ci95) != 2:
            raise ValueError(f"RepeatedValue ci95: expected (low, high), got {ci95!r}")
        obj.ci95 = None if ci95 is None else (float(ci95[0]), float(ci95[1]))
        return obj

    def __reduce__(self) -> tuple[Any, ...]:  # crosses process boundaries with its runs
        return (RepeatedValue, (float(self), self.samples, self.ci95))


def pruner_of(study_meta: Mapping[str, Any]) -> optuna.pruners.BasePruner:
    """The pruner the sweeper configured, rebuilt from the study's ``STUDY_META_ATTR``."""
    from hydra_plugins.emotion_lab_sweeper._optuna_algos import from_spec

    return from_spec(study_meta.get("pruner"))
