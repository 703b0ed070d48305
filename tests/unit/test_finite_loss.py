"""A NaN or infinite training loss stops the run at once, on every DDP rank together."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from emotion_lab.app.config import compose_config
from emotion_lab.callbacks.finite_loss import FiniteLossGuard
from emotion_lab.errors import ConfigError, TrainingDiverged

REPO = Path(__file__).resolve().parents[2]


class Poisoned(pl.LightningModule):
    """A linear model whose loss turns into ``bad`` from training step ``at`` on."""

    def __init__(self, at: int | None, bad: float = float("nan")) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.at, self.bad, self.steps = at, bad, 0

    def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)
        self.steps += 1
        if self.at is not None and self.steps > self.at:
            loss = loss * self.bad
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(module: Poisoned, guard: FiniteLossGuard) -> None:
    data = TensorDataset(torch.randn(40, 3), torch.randn(40))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=3,
        callbacks=[guard],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(data, batch_size=4))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_the_run_at_that_step(bad):
    module = Poisoned(at=3, bad=bad)
    with pytest.raises(TrainingDiverged) as info:
        _fit(module, FiniteLossGuard())
    assert module.steps == 4  # the 4th step's loss was the first bad one; no step after it
    assert f"the training loss is {bad}" in str(info.value)
    assert "epoch 0, batch 3" in str(info.value) and "optimizer.lr" in str(info.value)


def test_sparse_checks_still_catch_a_loss_between_them():
    module = Poisoned(at=1)
    with pytest.raises(TrainingDiverged, match="training loss is nan"):
        _fit(module, FiniteLossGuard(check_every_n_steps=5))
    assert module.steps == 5


def test_finite_loss_trains_to_the_end():
    module = Poisoned(at=None)
    _fit(module, FiniteLossGuard())
    assert module.steps == 30


def test_bad_interval_names_the_key():
    with pytest.raises(ConfigError, match="callbacks.finite_loss.check_every_n_steps=0"):
        FiniteLossGuard(check_every_n_steps=0)


def test_the_default_callbacks_include_the_guard():
    assert compose_config("train").callbacks.finite_loss._target_.endswith("FiniteLossGuard")


DDP_SCRIPT = textwrap.dedent(
    """
    import sys
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from emotion_lab.callbacks.finite_loss import FiniteLossGuard
    from emotion_lab.errors import TrainingDiverged

    class OneRankDiverges(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(3, 1)
            self.steps = 0

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)
            self.steps += 1
            if self.global_rank == 1 and self.steps > 2:
                loss = loss * float("nan")
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    if __name__ == "__main__":
        torch.set_num_threads(1)
        module = OneRankDiverges()
        trainer = pl.Trainer(
            accelerator="cpu", devices=2, strategy="ddp", max_epochs=2,
            callbacks=[FiniteLossGuard()], logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
        )
        data = TensorDataset(torch.randn(64, 3), torch.randn(64))
        try:
            trainer.fit(module, DataLoader(data, batch_size=4))
        except TrainingDiverged as exc:
            print(f"rank {trainer.global_rank} stopped after {module.steps} steps: {exc}")
            sys.exit(3)
        print(f"rank {trainer.global_rank} finished")
    """
)


@pytest.mark.slow
def test_under_ddp_every_rank_stops_when_one_rank_diverges(tmp_path):
    script = tmp_path / "ddp_diverge.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert "rank 0 stopped after 3 steps: training diverged:" in out, out[-3000:]
    assert "rank 1 stopped after 3 steps: training diverged: the training loss is nan" in out
    assert "rank 0 stopped after 3 steps: training diverged: the training loss on another" in out
    assert "finished" not in out
