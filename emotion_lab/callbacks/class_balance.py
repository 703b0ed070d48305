"""Writes the training class distribution before and after balancing into the run's figures.

A callback rather than part of the data module's ``setup``: ``setup`` runs on every DDP rank (and
in evaluation, benchmarks and data checks, which have no run folder), while a callback knows the
run folder, runs only when fitting, writes on rank 0 alone, and can be dropped from the config
(``callbacks.class_balance=null``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.loggers import WandbLogger

from emotion_lab.callbacks.analysis import run_label
from emotion_lab.viz.captions import figure_title
from emotion_lab.viz.class_balance import plot_class_balance
from emotion_lab.viz.plots import save_figure

log = logging.getLogger(__name__)

FILE_NAME = "class_balance.png"


class ClassBalancePlot(pl.Callback):
    """At fit start, ``figures/class_balance.png`` when the data module rebalances the classes
    (``data.balance.targets`` or ``data.sampler=balanced``); nothing otherwise."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.path: Path | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        balance = getattr(trainer.datamodule, "class_balance", None)
        if balance is None or not trainer.is_global_zero:
            return
        name = getattr(trainer.datamodule, "name", "data")
        config = getattr(pl_module, "run_config", None)
        run = run_label(trainer, self.output_dir)
        title = figure_title(f"{name} training classes", run, config)
        figure = plot_class_balance(balance, title=title)
        self.path = save_figure(figure, self.output_dir / "figures" / FILE_NAME)
        log.info("class distribution before and after balancing: %s", self.path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({"figures/class_balance": wandb.Image(str(self.path))})
