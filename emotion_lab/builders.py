"""Turn a composed config into the run's objects; shared by ``train`` and ``evaluate``."""

from __future__ import annotations

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data_paths import checkpoint_config
from emotion_lab.errors import ConfigError
from emotion_lab.models import apply_initializer
from emotion_lab.module import EmotionClassifier


def build_datamodule(cfg: DictConfig) -> EmotionDataModule:
    augmentation = instantiate(cfg.augmentation) if cfg.get("augmentation") else None
    datamodule: EmotionDataModule = instantiate(cfg.data, augmentation=augmentation)
    datamodule.setup()
    return datamodule


def build_module(cfg: DictConfig, datamodule: EmotionDataModule) -> EmotionClassifier:
    starts_trained = cfg.model.get("pretrained") or cfg.model.get("checkpoint_path")
    if starts_trained and cfg.init.name != "default":
        raise ConfigError(
            f"init={cfg.init.name} would overwrite the pretrained weights of model.{cfg.model.name}; "
            "use init=default"
        )
    model = instantiate(cfg.model, num_classes=datamodule.num_classes)
    apply_initializer(model, cfg.init.name)
    loss = instantiate(
        cfg.loss,
        num_classes=datamodule.num_classes,
        feat_dim=model.embedding_dim,
        class_counts=datamodule.class_counts(),
    )
    performance = cfg.get("performance") or {}
    compile_model = bool(performance.get("compile", False))
    if compile_model and cfg.model.get("truncate", False):
        raise ConfigError(
            "performance.compile=true needs model.truncate=false: the truncated backbone ends "
            "its forward with an exception, which torch.compile cannot trace"
        )
    return EmotionClassifier(
        channels_last=bool(performance.get("channels_last", True)),
        compile_model=compile_model,
        model=model,
        loss=loss,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler.scheduler) if cfg.scheduler.scheduler else None,
        scheduler_interval=cfg.scheduler.interval,
        scheduler_monitor=cfg.scheduler.monitor,
        classes=datamodule.classes,
        run_config=checkpoint_config(cfg),
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


def build_loggers(cfg: DictConfig) -> list[Logger]:
    loggers: list[Logger] = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if logger_cfg is None:
            continue
        if name != "wandb":
            loggers.append(instantiate(logger_cfg))
            continue
        tags = list(logger_cfg.get("tags") or [])
        if cfg.trial.sweeper:
            tags += [f"sweeper:{cfg.trial.sweeper}", f"trial:{cfg.trial.number}"]
        logger = instantiate(logger_cfg, group=run_group(cfg), tags=tags)
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        loggers.append(logger)
    return loggers


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]


def build_trainer(
    cfg: DictConfig, loggers: list[Logger], callbacks: list[pl.Callback]
) -> pl.Trainer:
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
