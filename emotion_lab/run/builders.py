"""Turn a composed config into the run's objects; shared by ``train`` and ``evaluate``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from emotion_lab.app.checks import check_pretrained_init
from emotion_lab.app.config import task_overrides
from emotion_lab.classifier.build import build_classifier
from emotion_lab.classifier.checkpoint import checkpoint_config
from emotion_lab.classifier.module import EmotionClassifier
from emotion_lab.data.class_match import match_classes
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.errors import ConfigError
from emotion_lab.run import wandb_run
from emotion_lab.run.checkpoint_io import AtomicCheckpointIO
from emotion_lab.run.hyperparams import comparison_config, hydra_choices
from emotion_lab.run.records import mask_trial_storage

log = logging.getLogger(__name__)


def build_datamodule(
    cfg: DictConfig,
    classes: Sequence[str] | None = None,
    what: str = "ckpt_path",
    allow_subset: bool = True,
) -> EmotionDataModule:
    """The data module, set up. With ``classes`` (a checkpoint's) the set's classes are
    compared with them before anything is decoded (``what`` names the checkpoint in the
    message): equal, or (``allow_subset``) an ordered subset that is then scored with the
    checkpoint's indices."""
    augmentation = instantiate(cfg.augmentation) if cfg.get("augmentation") else None
    datamodule: EmotionDataModule = instantiate(cfg.data, augmentation=augmentation)
    if classes is not None:
        label = f"{what} on data={datamodule.name}"
        if not match_classes(classes, datamodule.classes, label):
            if not allow_subset:
                raise ConfigError(
                    f"{label}: the data set has {len(datamodule.classes)} of the checkpoint's "
                    f"{len(classes)} classes ({', '.join(datamodule.classes)}); resuming needs "
                    "the same classes"
                )
            log.info(
                "%s: the data set has %d of the checkpoint's %d classes (%s); scoring on those",
                label,
                len(datamodule.classes),
                len(classes),
                ", ".join(datamodule.classes),
            )
            datamodule.adopt_classes(classes)
    datamodule.setup()
    return datamodule


def build_module(cfg: DictConfig, datamodule: EmotionDataModule) -> EmotionClassifier:
    """The module to train: :func:`build_classifier` with the data set's classes and counts."""
    check_pretrained_init(cfg)
    return build_classifier(
        EmotionClassifier,
        cfg,
        datamodule.classes,
        datamodule.class_counts(),
        run_config=mask_trial_storage(checkpoint_config(cfg)),  # no storage password
    )


def run_group(cfg: DictConfig) -> str | None:
    """W&B group: the configured one, else the study of a sweep, else the multirun's folder."""
    if cfg.logger.get("wandb") is not None and cfg.logger.wandb.get("group"):
        return str(cfg.logger.wandb.group)
    if cfg.trial.study_name:
        return str(cfg.trial.study_name)
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        sweep_dir = HydraConfig.get().sweep.dir
        return f"{cfg.task_name}-{str(sweep_dir).rstrip('/').split('/')[-1]}"
    return None


def build_loggers(
    cfg: DictConfig, evaluated: tuple[str, Mapping[str, Any]] | None = None
) -> list[Logger]:
    """The configured loggers; ``evaluated`` (checkpoint path and contents) links an evaluation
    run to the training run that wrote the checkpoint."""
    loggers: list[Logger] = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if logger_cfg is None:
            continue
        if name == "wandb":
            loggers.append(build_wandb_logger(cfg, logger_cfg, evaluated))
        else:
            logger = instantiate(logger_cfg)
            logger.log_hyperparams(comparison_config(cfg, hydra_choices(), task_overrides()))
            loggers.append(logger)
    return loggers


def build_wandb_logger(
    cfg: DictConfig, logger_cfg: DictConfig, evaluated: tuple[str, Mapping[str, Any]] | None
) -> WandbLogger:
    """W&B logger named after what differs, tagged, resuming the run of ``ckpt_path``, with a
    summary that keeps the best ``objective.metric`` rather than the last epoch's."""
    kwargs: dict[str, Any] = {
        "group": run_group(cfg),
        "tags": wandb_run.run_tags(cfg, logger_cfg.get("tags") or []),
        "name": logger_cfg.get("name") or wandb_run.run_name(cfg, task_overrides()),
    }
    notes = [str(cfg.notes)] if cfg.get("notes") else []
    if logger_cfg.get("log_model") and logger_cfg.get("offline"):
        # Lightning refuses log_model offline; W&B keeps an offline run's artifacts for `wandb sync`
        kwargs |= {"offline": False, "mode": "offline"}
    hyperparams = comparison_config(cfg, hydra_choices(), task_overrides())
    link: dict[str, Any] = {}
    if evaluated is not None:
        trained = wandb_run.stored_run(evaluated[1], evaluated[0])
        link = wandb_run.evaluation_link(evaluated[0], trained)
        if not logger_cfg.get("name"):
            kwargs["name"] = f"eval-{(trained or {}).get('name') or Path(evaluated[0]).stem}"
        if (trained or {}).get("group") and not logger_cfg.get("group"):
            kwargs["group"] = trained["group"]  # beside the runs it evaluates
        notes.append(
            f"Evaluates {link['checkpoint']}"
            + (f" of W&B run {link['wandb_run']}" if trained else "")
        )
        hyperparams["evaluated"] = link  # type: ignore[index]
    elif cfg.get("ckpt_path") and cfg.get("task_name") == "train":
        resumed = wandb_run.read_stored_run(cfg.ckpt_path)
        if resumed is not None:  # the same W&B run continues (Lightning passes resume="allow")
            kwargs["id"] = resumed["id"]
            kwargs["name"] = logger_cfg.get("name") or resumed.get("name") or kwargs["name"]
    if notes:
        kwargs["notes"] = "\n".join(notes)
    logger: WandbLogger = instantiate(logger_cfg, **kwargs)
    if logger._wandb_init.get("anonymous") is None:  # Lightning passes None; W&B warns of it
        logger._wandb_init.pop("anonymous", None)
    logger.log_hyperparams(hyperparams)
    experiment = logger.experiment  # a no-op stand-in on ranks other than 0
    # the summary keeps the best value in the objective's direction (W&B's goal), per epoch
    maximize = cfg.objective.direction == "maximize"
    experiment.define_metric("epoch")
    experiment.define_metric(
        str(cfg.objective.metric), step_metric="epoch", summary="max" if maximize else "min"
    )
    if str(cfg.objective.metric) != "val/acc":
        experiment.define_metric("val/acc", step_metric="epoch", summary="max")
    if link and rank_zero_only.rank == 0:
        experiment.summary.update({f"evaluated/{k}": v for k, v in link.items()})
    return logger


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]


def build_trainer(
    cfg: DictConfig, loggers: list[Logger], callbacks: list[pl.Callback]
) -> pl.Trainer:
    """The Trainer of ``cfg``; checkpoints go through :class:`AtomicCheckpointIO` (written
    beside their name and renamed, so a kill never truncates the last one)."""
    return instantiate(
        cfg.trainer, logger=loggers or False, callbacks=callbacks, plugins=[AtomicCheckpointIO()]
    )
