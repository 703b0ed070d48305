"""Stop a run whose training loss is no longer a number, instead of ranking what it produced.

Once the loss is NaN or infinite (a learning rate of 1e12, an exploding loss term) every later
step only spreads NaN through the weights, yet the run would go on, test its best checkpoint
and, in a sweep, be recorded as COMPLETE with the accuracy of an early epoch. This callback
raises :class:`~emotion_lab.errors.TrainingDiverged` at the first non-finite training loss: a
single run ends with that one line, a sweep records the trial as failed.

Under DDP every rank calls the same collective at the same step, so all ranks stop together
even when only one of them saw the bad loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from emotion_lab.errors import ConfigError, TrainingDiverged


class FiniteLossGuard(Callback):
    """Raise ``TrainingDiverged`` once the training loss is NaN or infinite on any rank.

    The check needs the loss on the host; ``check_every_n_steps`` > 1 spares that
    synchronisation on fast accelerators (a non-finite loss in between is remembered on the
    device and still caught at the next check).
    """

    def __init__(self, check_every_n_steps: int = 1) -> None:
        super().__init__()
        if isinstance(check_every_n_steps, bool) or not isinstance(check_every_n_steps, int):
            raise ConfigError(
                "callbacks.finite_loss.check_every_n_steps: expected an integer, "
                f"got {check_every_n_steps!r}"
            )
        if check_every_n_steps < 1:
            raise ConfigError(
                f"callbacks.finite_loss.check_every_n_steps={check_every_n_steps}: must be >= 1"
            )
        self.check_every_n_steps = check_every_n_steps
        self._bad: torch.Tensor | None = None  # on the device: no host sync per step
        self._value: torch.Tensor | None = None  # the first non-finite loss, once there is one
        self._batches = 0

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            value = loss.detach().float().mean()
            bad = ~torch.isfinite(value)
            if self._bad is None or self._value is None:
                self._bad, self._value = bad, value
            else:
                self._value = torch.where(self._bad, self._value, value)
                self._bad = self._bad | bad
        self._batches += 1
        # The epoch's last batch is checked here rather than in on_train_epoch_end: there the
        # progress bar of rank 0 alone computes the synced epoch metrics first, so a collective
        # of ours would meet a different collective on the other ranks.
        if self._batches % self.check_every_n_steps == 0 or trainer.is_last_batch:
            self._check(trainer, batch_idx)

    def _check(self, trainer: pl.Trainer, batch_idx: int) -> None:
        local = bool(self._bad) if self._bad is not None else False
        if not trainer.strategy.reduce_boolean_decision(local, all=False):
            return
        where = f"epoch {trainer.current_epoch}, batch {batch_idx}"
        if local and self._value is not None:
            what = f"the training loss is {float(self._value)}"
        else:
            what = "the training loss on another rank is not finite"
        lrs = sorted({g["lr"] for opt in trainer.optimizers for g in opt.param_groups})
        lr_text = f" (learning rate {', '.join(f'{lr:g}' for lr in lrs)})" if lrs else ""
        raise TrainingDiverged(
            f"training diverged: {what} at {where}{lr_text}; lower optimizer.lr or set "
            "trainer.gradient_clip_val"
        )
