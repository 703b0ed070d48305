"""A running job's handle on its own Optuna trial, reached through the study's storage.

The sweeper hands each job only strings (storage URL, study name, trial number), so the job can
run in the sweep process, a local child process or a SLURM node and still report its learning
curve, ask the study's pruner, and leave timestamps for the overhead benchmark.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import optuna

from emotion_lab.errors import ConfigError
from hydra_plugins.emotion_lab_sweeper.contract import (
    PLANNED_EPOCHS_ATTR,
    PRUNED_ATTR,
    STUDY_META_ATTR,
    mask_url,
    open_storage,
    pruner_of,
)

log = logging.getLogger(__name__)

FIRST_STEP_ATTR = "first_step_at"
FIT_END_ATTR = "fit_end_at"


class TrialLink:
    """Report values of one trial and ask whether to prune it."""

    def __init__(self, storage_url: str, study_name: str, trial_number: int) -> None:
        self.storage_url = storage_url
        self.study_name = study_name
        self.trial_number = int(trial_number)
        self._storage = open_storage(storage_url)
        try:
            study_id = self._storage.get_study_id_from_name(study_name)
        except KeyError:
            raise ConfigError(
                f"trial.study_name: no study '{study_name}' in {mask_url(storage_url)}"
            ) from None
        try:
            self._trial_id = self._storage.get_trial_id_from_study_id_trial_number(
                study_id, self.trial_number
            )
        except KeyError:
            raise ConfigError(
                f"trial.number: study '{study_name}' has no trial {self.trial_number}"
            ) from None
        meta: dict[str, Any] = self._storage.get_study_user_attrs(study_id).get(STUDY_META_ATTR, {})
        self._study = optuna.load_study(
            study_name=study_name,
            storage=self._storage,
            sampler=optuna.samplers.RandomSampler(),  # never samples here; avoids TPE set-up
            pruner=pruner_of(meta),
        )

    def report(self, value: float, step: int) -> bool:
        """Record ``value`` at ``step``; True if the study's pruner says stop."""
        if not math.isfinite(value):
            log.warning(f"trial {self.trial_number}: not reporting non-finite value {value}")
            return False
        try:
            self._storage.set_trial_intermediate_value(self._trial_id, int(step), float(value))
        except RuntimeError as exc:  # the sweeper already closed this trial (e.g. stale)
            log.warning(f"trial {self.trial_number}: cannot report ({exc})")
            return False
        frozen = self._storage.get_trial(self._trial_id)
        return bool(self._study.pruner.prune(self._study, frozen))

    def mark_pruned(self, step: int) -> None:
        """Tell the sweeper that this job stopped because the pruner said so."""
        self._set(PRUNED_ATTR, int(step))

    def mark_time(self, key: str) -> None:
        self._set(key, time.time())

    def mark_planned_epochs(self, n: int) -> None:
        """How many results the trial reports if nothing prunes it."""
        self._set(PLANNED_EPOCHS_ATTR, int(n))

    def _set(self, key: str, value: Any) -> None:
        try:
            self._storage.set_trial_user_attr(self._trial_id, key, value)
        except RuntimeError as exc:
            log.warning(f"trial {self.trial_number}: cannot set {key} ({exc})")


def link_from(
    storage: str | None, study_name: str | None, trial_number: int | None
) -> TrialLink | None:
    """A link when the job was launched by the Optuna sweeper, else ``None``."""
    if storage is None:
        return None
    if study_name is None or trial_number is None:
        raise ConfigError(
            "trial.storage is set but trial.study_name or trial.number is missing: "
            "these three are filled together by the Optuna sweeper"
        )
    return TrialLink(storage, study_name, trial_number)
