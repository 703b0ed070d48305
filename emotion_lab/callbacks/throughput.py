"""Training throughput and the share of each step spent waiting for data, for the benchmarks.

Timers read the clock only after the device has finished its queued work, so GPU steps are
measured, not their launches. The first ``warmup`` steps (allocator, cuDNN autotuning, caches)
are left out. "Data time" is what passes between one step's end and the next step's start: the
DataLoader, the host-to-device copy and the batch transforms (augmentation, normalisation), since
Lightning runs ``on_after_batch_transfer`` before ``on_train_batch_start``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch


def synced_clock(device: torch.device | None = None) -> float:
    """``perf_counter`` once the device is idle (a no-op wait on the CPU)."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@dataclass
class Throughput:
    samples: int
    seconds: float
    data_seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def data_share(self) -> float:
        return self.data_seconds / self.seconds if self.seconds > 0 else float("nan")


class ThroughputMeter:
    """Step timing shared by the Lightning callback and the hand-written loops."""

    def __init__(self, warmup: int = 5, device: torch.device | None = None) -> None:
        self.warmup = warmup
        self.device = device
        self.steps = 0
        self.samples = 0
        self.data_seconds = 0.0
        self._start: float | None = None
        self._last_end: float | None = None

    def step_start(self) -> None:
        now = synced_clock(self.device)
        if self.steps == self.warmup:
            self._start = now
        elif self._start is not None and self._last_end is not None:
            self.data_seconds += now - self._last_end

    def step_end(self, batch_size: int) -> None:
        self._last_end = synced_clock(self.device)
        if self._start is not None:
            self.samples += batch_size
        self.steps += 1

    def result(self) -> Throughput:
        if self._start is None or self._last_end is None:
            raise ValueError(f"fewer steps ({self.steps}) than the {self.warmup} warm-up steps")
        return Throughput(self.samples, self._last_end - self._start, self.data_seconds)


class ThroughputCallback(pl.Callback):
    """Times the training steps of a ``Trainer.fit`` with a :class:`ThroughputMeter`."""

    def __init__(self, warmup: int = 5) -> None:
        self.warmup = warmup
        self.meter = ThroughputMeter(warmup)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.meter = ThroughputMeter(self.warmup, pl_module.device)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.meter.step_start()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.meter.step_end(int(batch[1].shape[0]))  # real samples: a short last batch counts short
