"""Ties checkpoints and the W&B run together: the run's id goes into every checkpoint (so a
resumed fit continues that run and ``evaluate`` names it), and the best checkpoint goes into
the run's summary when the fit ends. Inert without a WandbLogger."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

from emotion_lab.models.checkpoint import load_data
from emotion_lab.run.wandb_run import CHECKPOINT_KEY


def _wandb(trainer: pl.Trainer) -> WandbLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


class WandbRunLink(pl.Callback):
    """Writes ``checkpoint["wandb_run"]`` and the ``best/*`` summary keys (see module docstring)."""

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        logger = _wandb(trainer)
        if logger is None or not trainer.is_global_zero:  # rank 0 writes the checkpoint file
            return
        run = logger.experiment
        checkpoint[CHECKPOINT_KEY] = {
            "id": run.id,
            "project": run.project,
            "entity": run.entity or None,
            "name": run.name,
            "group": run.group or None,
        }

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = _wandb(trainer)
        best = trainer.checkpoint_callback
        if logger is None or not trainer.is_global_zero or not isinstance(best, ModelCheckpoint):
            return
        if best.best_model_score is None or not best.best_model_path:
            return
        saved = load_data(best.best_model_path, "best_model_path", mmap=True)  # as data, no code
        logger.experiment.summary.update(
            {
                "best/checkpoint": best.best_model_path,
                f"best/{best.monitor}": float(best.best_model_score),
                "best/epoch": int(saved.get("epoch", -1)),
            }
        )
