"""Stratified k-fold cross-validation: k runs of the same config, one W&B group, mean ± std."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from emotion_lab.builders import run_group
from emotion_lab.cli import print_summary
from emotion_lab.run import RunResult, fit_and_test


def fold_config(cfg: DictConfig, fold: int, folds: int, group: str) -> DictConfig:
    """The run config of one fold: its own folder, its own W&B run in the shared group."""
    fold_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    with open_dict(fold_cfg):
        fold_cfg.data.fold = fold
        fold_cfg.data.num_folds = folds
        fold_cfg.cv.folds = None
        output_dir = str(Path(cfg.paths.output_dir) / f"fold_{fold}")
        fold_cfg.paths.output_dir = output_dir
        for node in ("logger", "callbacks"):
            for item in (fold_cfg.get(node) or {}).values():
                if item is None:
                    continue
                for key in ("save_dir", "dirpath", "output_dir"):
                    if key in item:
                        item[key] = str(item[key]).replace(cfg.paths.output_dir, output_dir, 1)
        if fold_cfg.logger.get("wandb") is not None:
            fold_cfg.logger.wandb.group = group
            fold_cfg.logger.wandb.name = f"{group}-fold{fold}"
    return fold_cfg


def aggregate(results: list[RunResult]) -> dict[str, tuple[float, float]]:
    """mean and (sample) standard deviation of every test metric present in all folds."""
    keys = set.intersection(*(set(r.test_metrics) for r in results)) if results else set()
    out: dict[str, tuple[float, float]] = {}
    for key in sorted(keys):
        values = [r.test_metrics[key] for r in results]
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[key] = (statistics.fmean(values), std)
    objectives = [r.objective for r in results]
    out["objective"] = (
        statistics.fmean(objectives),
        statistics.stdev(objectives) if len(objectives) > 1 else 0.0,
    )
    return out


def cross_validate(cfg: DictConfig) -> float:
    folds = int(cfg.cv.folds)
    if folds < 2:
        raise ValueError(f"cv.folds must be >= 2 (or null for no cross-validation), got {folds}")
    group = run_group(cfg) or f"{cfg.task_name}-cv-{Path(cfg.paths.output_dir).name}"
    results = [fit_and_test(fold_config(cfg, k, folds, group)) for k in range(folds)]
    summary = aggregate(results)
    out = Path(cfg.paths.output_dir) / "cv_results.csv"
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "mean", "std", *[f"fold_{k}" for k in range(folds)]])
        for key, (mean, std) in summary.items():
            per_fold = [r.objective if key == "objective" else r.test_metrics[key] for r in results]
            writer.writerow([key, mean, std, *per_fold])
    print_summary(
        {key: f"{mean:.4f} ± {std:.4f}" for key, (mean, std) in summary.items()}
        | {"results": str(out)},
        f"{folds}-fold cross-validation",
    )
    mean_objective = summary["objective"][0]
    return mean_objective if math.isfinite(mean_objective) else math.nan
