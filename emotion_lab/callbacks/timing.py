"""Wall time per training epoch and per test image, as the papers report them (S002, S004).

Written straight to the loggers (which write on rank 0 only), so timing adds no collective; the
clock is read after the device has finished its queued work.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from emotion_lab.callbacks.throughput import synced_clock


class RunTimer(pl.Callback):
    """Logs ``time/epoch_s`` after every training epoch and ``time/test_ms_per_image``."""

    def __init__(self) -> None:
        self._epoch_start = 0.0
        self._test_start = 0.0
        self._test_images = 0
        self.epoch_seconds: list[float] = []
        self.test_ms_per_image: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = synced_clock(pl_module.device)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = synced_clock(pl_module.device) - self._epoch_start
        self.epoch_seconds.append(seconds)
        self._log(trainer, {"time/epoch_s": seconds})

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._test_images = 0
        self._test_start = synced_clock(pl_module.device)

    def on_test_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._test_images += int(batch[1].shape[0])

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._test_images:
            return
        seconds = synced_clock(pl_module.device) - self._test_start
        self.test_ms_per_image = 1000.0 * seconds / self._test_images
        self._log(trainer, {"time/test_ms_per_image": self.test_ms_per_image})

    @staticmethod
    def _log(trainer: pl.Trainer, metrics: dict[str, float]) -> None:
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
