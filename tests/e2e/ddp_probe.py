"""A callback the DDP tests add to a real run: each rank writes down what it saw.

Only rank 0 writes the run's own files, so agreement between ranks is visible only through a
probe that every rank runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch


class RankProbe(pl.Callback):
    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.epochs: list[dict[str, Any]] = []
        self.rng = ""
        self.train_batches: list[int] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.rng = hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.train_batches.append(int(batch[1].shape[0]))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        self.epochs.append(
            {
                "epoch": trainer.current_epoch,
                "val/loss": float(trainer.callback_metrics["val/loss"]),
                "val/acc": float(trainer.callback_metrics["val/acc"]),
                "lr": float(lr),
            }
        )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "rng": self.rng,
            "epochs": self.epochs,
            "last_epoch": trainer.current_epoch,
            "min_train_batch": min(self.train_batches),
            "stopped_early": bool(trainer.should_stop),
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"rank{trainer.global_rank}.json"
        path.write_text(json.dumps(record, indent=2), encoding="utf-8")
