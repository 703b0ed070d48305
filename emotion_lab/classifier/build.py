"""The one way an :class:`EmotionClassifier` is built from a run config: for training (model
initialised, loss weighted by the training counts, schedule) or to receive a checkpoint's weights
(pretrained sources off, uniform counts: the weights replace them anyway)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import lightning.pytorch as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from emotion_lab.errors import ConfigError, config_section

Classifier = TypeVar("Classifier", bound=pl.LightningModule)
"""``EmotionClassifier`` or a subclass; passed in, so that the module can build itself."""


def build_classifier(
    cls: type[Classifier],
    cfg: DictConfig,
    classes: Sequence[str],
    class_counts: Sequence[int] | None = None,
    *,
    run_config: dict[str, Any] | None = None,
    for_weights: bool = False,
) -> Classifier:
    """``cls`` (``EmotionClassifier``, passed in so that the module can build itself) of
    ``cfg``'s model, loss, optimizer and schedule for ``classes``.

    ``for_weights``: an untrained module ready for a checkpoint's state (no pretrained download,
    no initializer, uniform class counts). Otherwise the model is initialised by ``cfg.init``
    and the loss weighted by ``class_counts``; ``run_config`` is what checkpoints will store.
    """
    classes = tuple(classes)
    model_cfg = cfg.model.copy()
    if for_weights:
        with open_dict(model_cfg):
            for source in ("pretrained", "checkpoint_path"):
                if model_cfg.get(source):
                    model_cfg[source] = None if source == "checkpoint_path" else False
    with config_section("model"):
        model = instantiate(model_cfg, num_classes=len(classes))
    if not for_weights:
        from emotion_lab.models import apply_initializer

        with config_section("init"):
            apply_initializer(model, cfg.init.name)
    with config_section("loss"):
        loss = instantiate(
            cfg.loss,
            num_classes=len(classes),
            feat_dim=model.embedding_dim,
            class_counts=list(class_counts) if class_counts is not None else [1] * len(classes),
        )
    performance = cfg.get("performance") or {}
    compile_model = bool(performance.get("compile", False)) and not for_weights
    if compile_model and cfg.model.get("truncate", False):
        raise ConfigError(
            "performance.compile=true needs model.truncate=false: the truncated backbone ends "
            "its forward with an exception, which torch.compile cannot trace"
        )
    scheduler = cfg.get("scheduler") or {}
    return cls(
        model=model,
        loss=loss,
        optimizer=instantiate(cfg.optimizer),
        scheduler=None
        if for_weights or not scheduler.get("scheduler")
        else instantiate(scheduler.scheduler),
        scheduler_interval=scheduler.get("interval", "epoch"),
        scheduler_monitor=scheduler.get("monitor"),
        classes=classes,
        run_config=run_config
        if run_config is not None
        else OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
        channels_last=bool(performance.get("channels_last", True)),
        compile_model=compile_model,
    )
