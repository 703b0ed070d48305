"""One log line about the network instead of Lightning's summary table.

Lightning's table lists every metric object (0 parameters each) and a FLOPs column that reads 0
unless the module defines ``example_input_array``; what a run's reader needs is the parts that
hold parameters and the totals. Subclassing ``ModelSummary`` keeps Lightning from adding its own.
"""

from __future__ import annotations

import logging

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary import get_human_readable_count

log = logging.getLogger(__name__)


def _count(n: int) -> str:
    return get_human_readable_count(n).strip()  # Lightning pads it for its table


def summary_line(module: pl.LightningModule) -> str:
    """``model VireCNN 846 K, loss EmotionLoss 448 | 847 K params (847 K trainable), 3.4 MB``."""
    parts = []
    for name, child in module.named_children():
        count = sum(p.numel() for p in child.parameters())
        if count:
            parts.append(f"{name} {type(child).__name__} {_count(count)}")
    params = list(module.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    megabytes = sum(p.numel() * p.element_size() for p in params) / 1e6
    totals = f"{_count(total)} params ({_count(trainable)} trainable), {megabytes:.1f} MB"
    return ", ".join(parts) + " | " + totals if parts else totals


class CompactModelSummary(ModelSummary):
    """Logs :func:`summary_line` once per fit, on rank 0 (into the console and the run's log)."""

    def __init__(self) -> None:
        super().__init__(max_depth=1)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            log.info(summary_line(pl_module))
