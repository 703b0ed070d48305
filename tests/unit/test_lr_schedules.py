"""S000's warm-restart schedule as a Trainer runs it: per step, down to eta_min, restart at 5 epochs."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

from emotion_lab.app.config import compose_config
from emotion_lab.classifier.module import EmotionClassifier
from emotion_lab.classifier.schedules import cosine_warm_restarts
from emotion_lab.losses import EmotionLoss
from emotion_lab.models import EmotionNet

STEPS_PER_EPOCH = 20


class TinyNet(EmotionNet):
    embedding_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(3, 4)
        self.head = torch.nn.Linear(4, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.head(embedding)


class LearningRates(pl.Callback):
    def __init__(self) -> None:
        self.values: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.values.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_s000_schedule_reaches_eta_min_within_five_epochs_and_restarts(tmp_path) -> None:
    cfg = compose_config(overrides=["experiment=s000_synthetic"])
    assert cfg.scheduler.interval == "step"
    module = EmotionClassifier(
        model=TinyNet(),
        loss=EmotionLoss(2, 4),
        optimizer=instantiate(cfg.optimizer),
        classes=("a", "b"),
        scheduler=instantiate(cfg.scheduler.scheduler),
        scheduler_interval=cfg.scheduler.interval,
        channels_last=False,
    )
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(4 * STEPS_PER_EPOCH, 3, generator=g), torch.arange(80) % 2)
    recorder = LearningRates()
    trainer = pl.Trainer(
        max_epochs=6,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[recorder],
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(data, batch_size=4))
    lrs = recorder.values
    cycle = 5 * STEPS_PER_EPOCH
    assert len(lrs) == 6 * STEPS_PER_EPOCH
    assert lrs[0] == pytest.approx(0.02)
    assert min(lrs[:cycle]) < 1.1e-4  # "decays from 0.02 down to 1e-4" within 5 epochs
    assert all(a > b for a, b in zip(lrs[: cycle - 1], lrs[1:cycle], strict=True))
    assert lrs[cycle] == pytest.approx(0.02)  # "and restarts back every 5 epochs"


def test_cosine_warm_restarts_period_counts_epochs_of_steps() -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = cosine_warm_restarts(opt, steps_per_epoch=3, restart_epochs=2, eta_min=0.0)
    assert sched.T_0 == 6
    with pytest.raises(ValueError, match="restart_epochs"):
        cosine_warm_restarts(opt, steps_per_epoch=3, restart_epochs=0)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        cosine_warm_restarts(opt, steps_per_epoch=0)
