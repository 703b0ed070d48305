"""Early stopping that can hand back the best epoch's weights, as Keras' restore_best_weights does."""

from __future__ import annotations

import logging
import math

import lightning.pytorch as pl
import torch

from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)


class BestWeightsEarlyStopping(pl.Callback):
    """Stop after ``patience`` validation epochs without improvement; ``patience=None`` never stops.

    The best weights are kept in memory (a CPU copy) so the test stage and the returned model use
    them even when no checkpoint is written.
    """

    def __init__(
        self,
        monitor: str,
        mode: str = "max",
        patience: int | None = None,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ConfigError(f"callbacks.early_stopping.mode must be 'min' or 'max', got {mode!r}")
        if patience is not None and patience < 1:
            raise ConfigError(
                f"callbacks.early_stopping.patience must be >= 1 or null, got {patience}"
            )
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.best: float = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self._best_state: dict[str, torch.Tensor] | None = None

    @property
    def enabled(self) -> bool:
        return self.patience is not None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Not on_validation_epoch_end: Lightning runs callbacks' epoch-end hooks before the
        # module's, where epoch metrics such as val/acc are logged, so they would be one epoch old.
        if not self.enabled or trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise ConfigError(f"early stopping monitors {self.monitor!r}, which was never logged")
        value = float(value)
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, trainer.current_epoch, 0
            if self.restore_best_weights:
                self._best_state = {
                    k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()
                }
            return
        self.wait += 1
        # One decision for all ranks (the monitored value is already reduced over them; this
        # guards against a rank whose copy differs), so no rank trains on alone and hangs.
        stop = trainer.strategy.reduce_boolean_decision(
            self.wait >= self.patience,  # type: ignore[operator]
            all=False,
        )
        if stop:
            trainer.should_stop = True
            log.info(
                "early stop at epoch %d: best %s=%.4f at epoch %d",
                trainer.current_epoch,
                self.monitor,
                self.best,
                self.best_epoch,
            )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled and self.restore_best_weights and self._best_state is not None:
            pl_module.load_state_dict(self._best_state)
            log.info(
                "restored weights of epoch %d (%s=%.4f)", self.best_epoch, self.monitor, self.best
            )

    def state_dict(self) -> dict[str, float | int]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state_dict: dict[str, float | int]) -> None:
        self.best = float(state_dict["best"])
        self.best_epoch = int(state_dict["best_epoch"])
        self.wait = int(state_dict["wait"])
