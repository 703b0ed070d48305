"""BestWeightsEarlyStopping against a scripted validation curve."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from emotion_lab.callbacks import BestWeightsEarlyStopping


class ScriptedCurve(pl.LightningModule):
    """Its weight is set to the epoch number; val/acc follows ``curve`` and is logged, like our
    EmotionClassifier's, in the module's own on_validation_epoch_end."""

    def __init__(self, curve: list[float]) -> None:
        super().__init__()
        self.curve = curve
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return (self.w * batch[0]).sum() * 0.0

    def on_train_epoch_start(self) -> None:
        with torch.no_grad():
            self.w.fill_(float(self.current_epoch))

    def validation_step(self, batch, batch_idx) -> None:
        pass

    def on_validation_epoch_end(self) -> None:
        self.log("val/acc", self.curve[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _fit(curve: list[float], stopper: BestWeightsEarlyStopping) -> tuple[pl.Trainer, ScriptedCurve]:
    loader = DataLoader(TensorDataset(torch.ones(2, 1)), batch_size=2)
    module = ScriptedCurve(curve)
    trainer = pl.Trainer(
        max_epochs=len(curve),
        callbacks=[stopper],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, loader, loader)
    return trainer, module


def test_stops_after_patience_and_restores_the_best_epoch() -> None:
    stopper = BestWeightsEarlyStopping(monitor="val/acc", mode="max", patience=2)
    trainer, module = _fit([0.1, 0.5, 0.4, 0.3, 0.9, 0.95], stopper)
    assert stopper.best == pytest.approx(0.5) and stopper.best_epoch == 1
    assert trainer.current_epoch == 4  # epochs 0..3 ran; 2 and 3 did not improve
    assert module.w.item() == 1.0  # epoch 1's weights are back


def test_min_mode_and_no_patience_runs_every_epoch() -> None:
    stopper = BestWeightsEarlyStopping(monitor="val/acc", mode="min", patience=None)
    trainer, module = _fit([0.3, 0.2, 0.4], stopper)
    assert trainer.current_epoch == 3
    assert module.w.item() == 2.0  # disabled: the last weights stay


def test_unlogged_monitor_is_named() -> None:
    stopper = BestWeightsEarlyStopping(monitor="val/f1", patience=3)
    with pytest.raises(ValueError, match="val/f1"):
        _fit([0.1, 0.2], stopper)


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match="early_stopping.mode"):
        BestWeightsEarlyStopping(monitor="val/acc", mode="up")
    with pytest.raises(ValueError, match="early_stopping.patience"):
        BestWeightsEarlyStopping(monitor="val/acc", patience=0)
