"""Learning-rate schedules that need the run's length, which only the Trainer knows."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, LambdaLR

from emotion_lab.errors import ConfigError


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int,
    warmup_fraction: float = 0.05,
    min_lr_ratio: float = 0.0,
) -> LambdaLR:
    """Linear warm-up from 0 over ``warmup_fraction`` of the steps, then cosine decay to
    ``min_lr_ratio``·lr. Step it every optimizer step (``interval: step``)."""
    if not 0.0 <= warmup_fraction < 1.0:
        raise ConfigError(f"scheduler.warmup_fraction must be in [0, 1), got {warmup_fraction}")
    if total_steps < 1:
        raise ValueError(f"warmup_cosine needs total_steps >= 1, got {total_steps}")
    warmup = max(1, round(warmup_fraction * total_steps)) if warmup_fraction > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def cosine_warm_restarts(
    optimizer: Optimizer,
    steps_per_epoch: int,
    restart_epochs: float = 5,
    eta_min: float = 1e-4,
    T_mult: int = 1,  # noqa: N803 - torch's name
) -> CosineAnnealingWarmRestarts:
    """SGDR with the cycle given in epochs but stepped every optimizer step (``interval: step``).

    Stepped once per epoch, a 5-epoch cycle only visits 5 points of the cosine and never gets
    near ``eta_min`` (0.02 → 0.002 at best); per step it decays smoothly down to ``eta_min`` and
    restarts every ``restart_epochs`` epochs, as S000 describes.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"cosine_warm_restarts needs steps_per_epoch >= 1, got {steps_per_epoch}")
    if restart_epochs <= 0:
        raise ConfigError(f"scheduler.restart_epochs must be > 0, got {restart_epochs}")
    period = max(1, round(restart_epochs * steps_per_epoch))
    return CosineAnnealingWarmRestarts(optimizer, T_0=period, T_mult=T_mult, eta_min=eta_min)
