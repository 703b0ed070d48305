"""The end of a run, shared by ``train`` and ``evaluate``: its test metrics and its W&B run closed.

Both entry points test with the same callbacks and loggers, so they read the metrics and close
W&B the same way; a run that fails still finishes its W&B run, so the next one is not attached
to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.loggers import Logger, WandbLogger

from emotion_lab.callbacks import TestAnalysis


def collect_test_metrics(trainer: pl.Trainer, callbacks: Sequence[pl.Callback]) -> dict[str, float]:
    """The test metrics: the analysis callback's (with the embedding scores), else Lightning's."""
    analysis = next((c for c in callbacks if isinstance(c, TestAnalysis)), None)
    if analysis is not None:
        return dict(analysis.metrics)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}


def wandb_logger(loggers: Sequence[Logger]) -> WandbLogger | None:
    return next((lg for lg in loggers if isinstance(lg, WandbLogger)), None)


def wandb_run_dir(loggers: Sequence[Logger], trainer: pl.Trainer) -> str | None:
    """The W&B run's local folder on rank 0; None without W&B (other ranks hold a dummy run)."""
    wandb = wandb_logger(loggers)
    if wandb is None or not trainer.is_global_zero:
        return None
    return str(Path(wandb.experiment.dir).parent)


@contextmanager
def finishing_wandb(loggers: Sequence[Logger], trainer: pl.Trainer) -> Iterator[None]:
    """Finish the W&B run on leaving the block, even after an error (rank 0 alone holds one)."""
    try:
        yield
    finally:
        wandb = wandb_logger(loggers)
        if wandb is not None and trainer.is_global_zero:
            wandb.experiment.finish()
