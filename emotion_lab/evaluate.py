"""``python -m emotion_lab.evaluate ckpt_path=<file> [data=<name>]``: test a trained checkpoint.

The checkpoint carries the config it was trained with, so the model, loss and data settings are
rebuilt from it; a ``data=...`` override evaluates the same weights on another data set with the
same classes.
"""

from __future__ import annotations

import logging

import hydra
import lightning.pytorch as pl
from omegaconf import DictConfig, OmegaConf, open_dict

from emotion_lab.app.checks import check_config
from emotion_lab.app.config import register_resolvers, task_overrides
from emotion_lab.app.entry import one_line_errors, run_app
from emotion_lab.classifier.build import build_classifier
from emotion_lab.classifier.checkpoint import (
    STORED_KEY,
    data_dir_given,
    read_run_checkpoint,
    rebase_data_paths,
)
from emotion_lab.classifier.module import EmotionClassifier
from emotion_lab.run.builders import (
    build_callbacks,
    build_datamodule,
    build_loggers,
    build_trainer,
)
from emotion_lab.run.end import collect_test_metrics, finishing_wandb
from emotion_lab.run.records import headline_metrics
from emotion_lab.run.summary import print_summary

log = logging.getLogger(__name__)
register_resolvers()


def load_run_config(cfg: DictConfig) -> tuple[DictConfig, dict]:
    """The run config saved in the checkpoint, with this command's trainer, logger, data...

    A ``data=`` given here is checked once it sits in the run config: its sizes interpolate
    the checkpoint's ``model``, which this command's own config does not have."""
    own = cfg.copy()
    with open_dict(own):
        own.pop("data", None)
    check_config(own)
    stored = read_run_checkpoint(cfg.ckpt_path, "ckpt_path")
    checkpoint = stored.checkpoint
    saved = OmegaConf.to_container(stored.config)
    run_cfg = stored.config
    stored_dir = str((saved.get("paths") or {}).get("data_dir") or "")
    given = data_dir_given(task_overrides())
    data = rebase_data_paths(saved.get("data"), stored_dir, str(cfg.paths.data_dir), given)
    run_cfg.data = data
    # ckpt_path: the evaluated file, for ${ckpt_path} in callbacks/evaluate.yaml (report.md)
    for key in (
        "paths",
        "trainer",
        "callbacks",
        "logger",
        "seed",
        "task_name",
        "trial",
        "ckpt_path",
    ):
        run_cfg[key] = cfg[key]
    run_cfg.augmentation = None
    if cfg.get("data") is not None:
        run_cfg.data = OmegaConf.to_container(cfg.data, resolve=False)
    check_config(run_cfg)
    return run_cfg, checkpoint


def evaluate(cfg: DictConfig) -> dict[str, float]:
    pl.seed_everything(cfg.seed, workers=True)
    run_cfg, checkpoint = load_run_config(cfg)
    trained_classes = tuple(checkpoint[STORED_KEY]["classes"])
    datamodule = build_datamodule(
        run_cfg, classes=trained_classes, what=f"ckpt_path={cfg.ckpt_path}"
    )
    module = build_classifier(
        EmotionClassifier, run_cfg, trained_classes, datamodule.class_counts(), for_weights=True
    )
    module.load_state_dict(checkpoint["state_dict"])
    callbacks = build_callbacks(run_cfg)
    loggers = build_loggers(run_cfg, evaluated=(str(cfg.ckpt_path), checkpoint))
    trainer = build_trainer(run_cfg, loggers, callbacks)
    with finishing_wandb(loggers, trainer):
        trainer.test(module, datamodule=datamodule)
    metrics = collect_test_metrics(trainer, callbacks)
    rows: dict[str, object] = {
        "checkpoint": cfg.ckpt_path,
        "data set": datamodule.name,
        "model": run_cfg.model.name,
    }
    own = tuple(datamodule.source.classes)
    if own != trained_classes:
        rows["classes"] = (
            f"{len(own)} of the checkpoint's {len(trained_classes)}, scored on those: "
            + ", ".join(own)
        )
    rows |= headline_metrics(metrics)
    rows["run folder"] = cfg.paths.output_dir
    print_summary(rows, title="emotion-lab evaluation")
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
@one_line_errors
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    run_app(main, "evaluate")
