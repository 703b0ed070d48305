"""One fit-and-test of a composed config: what ``train`` and cross-validation both run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from emotion_lab.classifier.checkpoint import stored_classes
from emotion_lab.classifier.module import EmotionClassifier
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.run.builders import (
    build_callbacks,
    build_datamodule,
    build_loggers,
    build_module,
    build_trainer,
)
from emotion_lab.run.end import collect_test_metrics, finishing_wandb, wandb_run_dir
from emotion_lab.run.records import headline_metrics
from emotion_lab.run.summary import print_summary


@dataclass
class RunResult:
    objective: float
    test_metrics: dict[str, float] = field(default_factory=dict)
    epochs: int = 0
    wandb_dir: str | None = None


def _objective(trainer: pl.Trainer, metric: str) -> float:
    checkpoint = trainer.checkpoint_callback
    if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_score is not None:
        return float(checkpoint.best_model_score)
    value = trainer.callback_metrics.get(metric)
    return float(value) if value is not None else math.nan


def fit_and_test(cfg: DictConfig, summary: bool = True) -> RunResult:
    """Seed, build, fit, test the best checkpoint; the objective is the best ``objective.metric``."""
    pl.seed_everything(cfg.seed, workers=True)
    resume = cfg.get("ckpt_path")
    datamodule = build_datamodule(
        cfg, classes=stored_classes(resume) if resume else None, allow_subset=False
    )
    module = build_module(cfg, datamodule)
    callbacks = build_callbacks(cfg)
    loggers = build_loggers(cfg)
    trainer = build_trainer(cfg, loggers, callbacks)
    data_info = datamodule.describe()
    params = sum(p.numel() for p in module.model.parameters())
    for logger in loggers:  # the id table, split protocol and size beside the run's config
        logger.log_hyperparams({"data_protocol": data_info, "model/params": params})
    skipped = {f"data/skipped/{split}": n for split, n in datamodule.skipped.items()}
    for logger in loggers if skipped else ():  # bad samples dropped on load, per split
        logger.log_metrics(skipped, step=0)
    with finishing_wandb(loggers, trainer):
        # a resumed checkpoint was read as data above (stored_classes); Lightning reads it so too
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
        result = RunResult(_objective(trainer, cfg.objective.metric), epochs=trainer.current_epoch)
        test = cfg.get("test")
        if isinstance(test, bool):  # test=false / test=true: the shorthand of test.enabled
            test = {"enabled": test}
        test = test or {}
        if test.get("enabled", True) and not trainer.interrupted:
            best = trainer.checkpoint_callback
            use_best = (
                test.get("checkpoint", "best") == "best"
                and isinstance(best, ModelCheckpoint)
                and bool(best.best_model_path)
            )
            trainer.test(
                module,
                datamodule=datamodule,
                ckpt_path="best" if use_best else None,
                weights_only=True,
            )
            result.test_metrics = collect_test_metrics(trainer, callbacks)
        result.wandb_dir = wandb_run_dir(loggers, trainer)
    # after W&B's own closing lines, so the summary is the last thing printed; rank 0's alone
    if summary and trainer.is_global_zero:
        print_summary(summary_rows(cfg, datamodule, module, result), "emotion-lab run summary")
    return result


def summary_rows(
    cfg: DictConfig, datamodule: EmotionDataModule, module: EmotionClassifier, result: RunResult
) -> dict[str, object]:
    sizes = " / ".join(f"{len(datamodule.splits[s])} {s}" for s in ("train", "val", "test"))
    loss = f"beta={cfg.loss.beta}"
    if cfg.loss.get("use_centers"):
        loss += f", margin={cfg.loss.margin}, lambda={cfg.loss.lambda_}"
    rows: dict[str, object] = {
        "data set": f"{datamodule.name} ({sizes})",
        "model": f"{cfg.model.name} ({sum(p.numel() for p in module.model.parameters()):,} params)",
        "loss": loss,
    }
    info = datamodule.describe()
    if "split" in info:
        digest = f" (digest {info['split_digest']})" if info.get("split_digest") else ""
        rows["splits"] = f"{info['split']}{digest}"
    if info.get("ids"):
        rows["label ids"] = ", ".join(f"{k} → {v}" for k, v in info["ids"].items())
    if info.get("left_out"):
        rows["left out"] = ", ".join(f"{n} {why}" for why, n in info["left_out"].items())
    if datamodule.skipped:
        rows["skipped samples"] = ", ".join(f"{n} {s}" for s, n in datamodule.skipped.items())
    rows |= {
        "epochs": result.epochs,
        f"best {cfg.objective.metric}": result.objective,
    }
    rows |= headline_metrics(result.test_metrics)
    rows["run folder"] = cfg.paths.output_dir
    rows["W&B run"] = result.wandb_dir or "off"
    return rows
