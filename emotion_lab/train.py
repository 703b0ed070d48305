"""``python -m emotion_lab.train``: fit, test, report; returns the objective for sweepers."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import hydra
import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig

from emotion_lab.builders import (
    build_callbacks,
    build_datamodule,
    build_loggers,
    build_module,
    build_trainer,
)
from emotion_lab.callbacks import TestAnalysis
from emotion_lab.cli import one_line_errors, print_summary
from emotion_lab.config import register_resolvers

log = logging.getLogger(__name__)
register_resolvers()


def _objective(trainer: pl.Trainer, cfg: DictConfig) -> float:
    checkpoint = trainer.checkpoint_callback
    if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_score is not None:
        return float(checkpoint.best_model_score)
    value = trainer.callback_metrics.get(cfg.objective.metric)
    return float(value) if value is not None else math.nan


def train(cfg: DictConfig) -> float:
    """Seed, build, fit, test; the value returned is the best ``objective.metric`` seen."""
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule)
    callbacks = build_callbacks(cfg)
    loggers = build_loggers(cfg)
    trainer = build_trainer(cfg, loggers, callbacks)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        objective = _objective(trainer, cfg)
        test_metrics: dict[str, float] = {}
        if cfg.get("test") and not trainer.interrupted:
            best = trainer.checkpoint_callback
            use_best = isinstance(best, ModelCheckpoint) and bool(best.best_model_path)
            trainer.test(module, datamodule=datamodule, ckpt_path="best" if use_best else None)
            analysis = next((c for c in callbacks if isinstance(c, TestAnalysis)), None)
            test_metrics = (
                analysis.metrics
                if analysis
                else {
                    k: float(v)
                    for k, v in trainer.callback_metrics.items()
                    if k.startswith("test/")
                }
            )
        _summarise(cfg, datamodule, module, trainer, objective, test_metrics)
    finally:
        for logger in loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.finish()
    return objective


def _summarise(cfg, datamodule, module, trainer, objective, test_metrics) -> None:  # type: ignore[no-untyped-def]
    wandb_path = next(
        (
            str(Path(lg.experiment.dir).parent)
            for lg in trainer.loggers
            if isinstance(lg, WandbLogger)
        ),
        "off",
    )
    rows = {
        "data set": f"{datamodule.name} ({len(datamodule.splits['train'])} train / "
        f"{len(datamodule.splits['val'])} val / {len(datamodule.splits['test'])} test)",
        "model": f"{cfg.model.name} ({sum(p.numel() for p in module.model.parameters()):,} params)",
        "loss": f"beta={cfg.loss.beta}"
        + (
            f", margin={cfg.loss.margin}, lambda={cfg.loss.lambda_}"
            if cfg.loss.get("use_centers")
            else ""
        ),
        "epochs": trainer.current_epoch,
        f"best {cfg.objective.metric}": objective,
    }
    for key in ("test/acc", "test/f1", "test/ari", "test/nmi", "test/asr_kmeans"):
        if key in test_metrics:
            rows[key] = test_metrics[key]
    rows["run folder"] = cfg.paths.output_dir
    rows["W&B run"] = wandb_path
    print_summary(rows, title="emotion-lab run summary")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float:
    torch.set_float32_matmul_precision("high")
    return train(cfg)


if __name__ == "__main__":
    main()
