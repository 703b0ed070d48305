"""Lightning callback that reports each validation result to the trial and stops pruned runs.

It does nothing outside an Optuna sweep (``storage`` is None). Inside one, rank 0 reports the
monitored metric after every validation run, asks the study's pruner, and on "prune" marks the
trial in the storage and stops training; the sweeper then records the trial as PRUNED with its
last reported value. Other DDP ranks follow rank 0's decision so that all stop together.

Every run builds this callback, so it imports Optuna (through :mod:`.trial_link`) only inside a
sweep: a plain ``python -m emotion_lab.train`` never loads it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

if TYPE_CHECKING:
    from emotion_lab.sweep.trial_link import TrialLink

log = logging.getLogger(__name__)


def planned_validations(trainer: pl.Trainer) -> int | None:
    """Validation results a run reports when nothing stops it early; None if unbounded.

    With one validation per epoch (the default) these are the run's epochs: what pruning saves
    is counted against them.
    """
    epochs = trainer.max_epochs
    if epochs is None or epochs < 0:
        return None
    every = trainer.check_val_every_n_epoch or 1
    return int(epochs) // int(every)


class OptunaPruningCallback(Callback):
    """Per-validation reporting and pruning for a trial reached through its storage URL."""

    def __init__(
        self,
        storage: str | None,
        study_name: str | None,
        trial_number: int | None,
        monitor: str,
    ) -> None:
        super().__init__()
        self.storage = storage
        self.study_name = study_name
        self.trial_number = trial_number
        self.monitor = monitor
        self._link: TrialLink | None = None
        self._reports = 0
        self._started = False
        self._warned_missing = False
        if storage is not None and (study_name is None or trial_number is None):
            from emotion_lab.sweep.trial_link import link_from

            link_from(storage, study_name, trial_number)  # raises the explanatory error

    @property
    def enabled(self) -> bool:
        return self.storage is not None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_link"] = None  # storage connections do not cross process boundaries
        return state

    def _get_link(self) -> TrialLink:
        if self._link is None:
            from emotion_lab.sweep.trial_link import link_from

            link = link_from(self.storage, self.study_name, self.trial_number)
            assert link is not None
            self._link = link
        return self._link

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.enabled and not self._started and trainer.is_global_zero:
            self._started = True
            from emotion_lab.sweep.trial_link import FIRST_STEP_ATTR

            link = self._get_link()
            link.mark_time(FIRST_STEP_ATTR)
            planned = planned_validations(trainer)
            if planned is not None:
                link.mark_planned_epochs(planned)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # callback_metrics hold this epoch's aggregated values only from here on
        if not self.enabled or trainer.sanity_checking:
            return
        prune = False
        if trainer.is_global_zero:
            prune = self._report(trainer)
        prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune:
            trainer.should_stop = True

    def _report(self, trainer: pl.Trainer) -> bool:
        metric = trainer.callback_metrics.get(self.monitor)
        if metric is None:
            if not self._warned_missing:
                self._warned_missing = True
                log.warning(
                    f"pruning: metric '{self.monitor}' was not logged; known metrics: "
                    f"{sorted(trainer.callback_metrics)}"
                )
            return False
        step = self._reports
        self._reports += 1
        link = self._get_link()
        if not link.report(float(metric), step):
            return False
        link.mark_pruned(step)
        log.info(
            f"trial {self.trial_number} pruned after validation {step} "
            f"({self.monitor}={float(metric):.4g})"
        )
        return True

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled and trainer.is_global_zero:
            from emotion_lab.sweep.trial_link import FIT_END_ATTR

            self._get_link().mark_time(FIT_END_ATTR)
