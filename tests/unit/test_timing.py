"""RunTimer logs what the papers report: seconds per epoch and milliseconds per test image."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from emotion_lab.callbacks.timing import RunTimer
from emotion_lab.viz.plots import read_metrics_csv


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def test_step(self, batch, batch_idx) -> None:
        self.layer(batch[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_epoch_seconds_and_test_time_per_image_reach_the_loggers(tmp_path) -> None:
    data = DataLoader(TensorDataset(torch.randn(10, 2), torch.zeros(10)), batch_size=4)
    timer = RunTimer()
    logger = CSVLogger(tmp_path, name="csv", version="")
    trainer = pl.Trainer(
        max_epochs=2, logger=logger, callbacks=[timer], enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False,
    )  # fmt: skip
    module = Tiny()
    trainer.fit(module, train_dataloaders=data)
    trainer.test(module, dataloaders=data)
    logger.save()
    rows = read_metrics_csv(tmp_path / "csv" / "metrics.csv")
    epochs = [r["time/epoch_s"] for r in rows if "time/epoch_s" in r]
    assert len(epochs) == 2 and all(e > 0 for e in epochs)
    per_image = [r["time/test_ms_per_image"] for r in rows if "time/test_ms_per_image" in r]
    assert len(per_image) == 1 and per_image[0] == timer.test_ms_per_image > 0
