"""The runs one ``train`` command makes: folds × seeds of one config, and what they add up to.

A plain run is a plan of one. ``cv.folds=k`` makes k stratified folds, ``repeat.seeds=K`` (or a
list of seeds) makes K seeds of each (model init, data order and augmentation follow the seed;
the data split stays fixed unless ``repeat.resplit=true``). Every run of a plan is its own
folder and W&B run in one W&B group; the plan writes ``repeats.csv`` (one row a run), a
``summary.csv`` with mean, std and 95 % t-interval of every test metric, ``cv_results.csv`` for
cross-validation, and returns the value a sweeper optimises (``objective.aggregate``).
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from emotion_lab import files
from emotion_lab.app.checks import check_value
from emotion_lab.app.config import direction_to_mode, task_overrides
from emotion_lab.comparison.stats import t_interval
from emotion_lab.run.builders import run_group
from emotion_lab.run.fit import RunResult, fit_and_test
from emotion_lab.run.records import CONFIG_FILE, write_run_record, write_sub_run_config
from emotion_lab.run.summary import print_summary
from emotion_lab.run.wandb_run import run_name


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: its fold (None without cross-validation) and seed."""

    fold: int | None
    seed: int

    @property
    def suffix(self) -> str:
        parts = ([] if self.fold is None else [f"fold{self.fold}"]) + [f"seed{self.seed}"]
        return "-".join(parts)


def repeat_seeds(cfg: DictConfig) -> list[int] | None:
    """The seeds of ``repeat.seeds``: K → ``seed, seed+1, …``; a list as given; null → None."""
    spec = OmegaConf.select(cfg, "repeat.seeds")
    check_value("repeat.seeds", spec)
    if spec is None:
        return None
    if isinstance(spec, ListConfig | list | tuple):
        return [int(s) for s in spec]
    return [int(cfg.seed) + i for i in range(spec)]


def plan_runs(cfg: DictConfig) -> list[PlannedRun]:
    """Folds × seeds, folds outermost; a plain config gives one run with ``cfg.seed``."""
    folds = OmegaConf.select(cfg, "cv.folds")
    check_value("cv.folds", folds)
    seeds = repeat_seeds(cfg) or [int(cfg.seed)]
    fold_ids: Sequence[int | None] = [None] if folds is None else range(int(folds))
    return [PlannedRun(fold, seed) for fold in fold_ids for seed in seeds]


def _sub_dir(cfg: DictConfig, run: PlannedRun, repeats: bool) -> str:
    path = Path(cfg.paths.output_dir)
    if run.fold is not None:
        path /= f"fold_{run.fold}"
    if repeats:
        path /= f"seed_{run.seed}"
    return str(path)


def run_config(
    cfg: DictConfig,
    run: PlannedRun,
    group: str,
    repeats: bool = True,
    num_folds: int | None = None,
) -> DictConfig:
    """The config of one planned run: its seed, fold and folder, its W&B run in ``group``.

    Values are set before resolving, so everything that interpolates ``seed`` or
    ``paths.output_dir`` follows; paths that an earlier resolve froze are moved as well.
    """
    parent_dir = str(cfg.paths.output_dir)
    output_dir = _sub_dir(cfg, run, repeats)
    sub = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    with open_dict(sub):
        sub.paths.output_dir = output_dir
        sub.seed = run.seed
        if run.fold is not None:
            sub.data.fold = run.fold
            sub.data.num_folds = int(num_folds or cfg.cv.folds)
        if OmegaConf.select(cfg, "repeat.resplit"):
            sub.data.split_seed = run.seed
    sub = OmegaConf.create(OmegaConf.to_container(sub, resolve=True))
    with open_dict(sub):
        sub.cv.folds = None
        if sub.get("repeat") is not None:
            sub.repeat.seeds = None
        for node in ("logger", "callbacks"):
            for item in (sub.get(node) or {}).values():
                if item is None:
                    continue
                for key in ("save_dir", "dirpath", "output_dir"):
                    value = str(item.get(key, ""))
                    if value.startswith(parent_dir) and not value.startswith(output_dir):
                        item[key] = output_dir + value[len(parent_dir) :]
        if (sub.get("logger") or {}).get("wandb") is not None:
            sub.logger.wandb.group = group
            given = cfg.logger.wandb.get("name")
            sub.logger.wandb.name = (
                f"{given}-{run.suffix}" if given else run_name(sub, task_overrides(), fold=run.fold)
            )
    return sub


def fold_config(cfg: DictConfig, fold: int, folds: int, group: str) -> DictConfig:
    """One fold of cross-validation without seed repeats (``cv.folds`` alone)."""
    return run_config(cfg, PlannedRun(fold, int(cfg.seed)), group, repeats=False, num_folds=folds)


def aggregate_objective(values: Sequence[float], how: str, direction: str) -> float:
    """One value from a plan's objectives: mean, median, or the worst in ``direction``."""
    finite = [v for v in values if math.isfinite(v)]
    check_value("objective.aggregate", how)
    if len(finite) < len(values) or not finite:
        return math.nan  # a diverged seed makes the whole setting suspect
    if how == "mean":
        return statistics.fmean(finite)
    if how == "median":
        return statistics.median(finite)
    return min(finite) if direction_to_mode(direction) == "max" else max(finite)


def _metric_keys(results: Sequence[RunResult]) -> list[str]:
    keys = set.intersection(*(set(r.test_metrics) for r in results)) if results else set()
    return sorted(keys)


def _write_repeats_csv(
    path: Path, runs: Sequence[PlannedRun], results: Sequence[RunResult], dirs: Sequence[str]
) -> None:
    keys = _metric_keys(results)
    with files.atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", "seed", "objective", *keys, "run_dir"])
        for run, result, folder in zip(runs, results, dirs, strict=True):
            fold = "" if run.fold is None else run.fold
            row = [result.test_metrics[k] for k in keys]
            writer.writerow([fold, run.seed, result.objective, *row, folder])


def _summary(results: Sequence[RunResult]) -> dict[str, list[float]]:
    values = {k: [r.test_metrics[k] for r in results] for k in _metric_keys(results)}
    return {"objective": [r.objective for r in results]} | values


def _write_summary_csv(path: Path, summary: dict[str, list[float]]) -> None:
    with files.atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "n", "mean", "std", "ci95_low", "ci95_high"])
        for key, values in summary.items():
            iv = t_interval(values)
            writer.writerow([key, iv.n, iv.mean, iv.std, iv.low, iv.high])


def _write_cv_csv(path: Path, summary: dict[str, list[float]], folds: int) -> None:
    """The per-fold table of ``cv.folds`` alone (mean, sample std, one column a fold)."""
    with files.atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "mean", "std", *[f"fold_{k}" for k in range(folds)]])
        for key, values in summary.items():
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            writer.writerow([key, statistics.fmean(values), std, *values])


def _title(runs: Sequence[PlannedRun], seeds: list[int] | None) -> str:
    folds = len({r.fold for r in runs})
    parts = [] if runs[0].fold is None else [f"{folds}-fold cross-validation"]
    if seeds:
        parts.append(f"{len(seeds)} seeds ({', '.join(map(str, seeds))})")
    return " × ".join(parts) + ": mean ± 95 % t-interval"


def execute(cfg: DictConfig) -> float:
    """Run the plan of ``cfg`` and return its objective (aggregated over several runs)."""
    runs = plan_runs(cfg)
    seeds = repeat_seeds(cfg)
    output_dir = Path(cfg.paths.output_dir)
    if len(runs) == 1 and runs[0].fold is None:
        return _single(cfg, runs[0], output_dir)
    kind = "-".join(k for k, on in (("cv", runs[0].fold is not None), ("repeat", seeds)) if on)
    group = run_group(cfg) or f"{cfg.task_name}-{kind}-{output_dir.name}"
    results: list[RunResult] = []
    dirs: list[str] = []
    for index, run in enumerate(runs):
        sub = run_config(cfg, run, group, repeats=seeds is not None)
        if index > 0 and sub.callbacks.get("pruning") is not None:
            # the sweeper's pruner sees one learning curve per trial: the first run's
            sub.callbacks.pruning = None
        if rank_zero_only.rank == 0:
            write_sub_run_config(sub.paths.output_dir, sub, output_dir)
        result = fit_and_test(sub, summary=False)
        _record(sub.paths.output_dir, result, run)
        results.append(result)
        dirs.append(str(sub.paths.output_dir))
    summary = _summary(results)
    intervals = {key: t_interval(values) for key, values in summary.items()}
    if rank_zero_only.rank == 0:
        _write_summary_csv(output_dir / "summary.csv", summary)
        _write_repeats_csv(output_dir / "repeats.csv", runs, results, dirs)
        if seeds is None:
            _write_cv_csv(output_dir / "cv_results.csv", summary, len(runs))
        rows: dict[str, object] = {}
        for key, iv in intervals.items():
            rows[key] = f"{iv.mean:.4f} ± {iv.half_width:.4f}  (std {iv.std:.4f}, n={iv.n})"
        print_summary(rows | {"runs": str(output_dir / "repeats.csv")}, _title(runs, seeds))
    how = str(OmegaConf.select(cfg, "objective.aggregate", default="mean"))
    value = aggregate_objective(summary["objective"], how, str(cfg.objective.direction))
    if seeds is None:
        return value
    from hydra_plugins.emotion_lab_sweeper.contract import RepeatedValue  # leaderboard: ± CI

    objective = intervals["objective"]
    ci95 = (objective.low, objective.high) if objective.n > 1 else None  # one run: no interval
    return RepeatedValue(value, summary["objective"], ci95)


def _single(cfg: DictConfig, run: PlannedRun, output_dir: Path) -> float:
    result = fit_and_test(cfg)
    if rank_zero_only.rank == 0 and not (output_dir / CONFIG_FILE).is_file():
        # outside Hydra (composed configs) nothing saved the config a comparison reads
        write_sub_run_config(output_dir, cfg, output_dir)
    _record(str(output_dir), result, run)
    return result.objective


def _record(folder: str, result: RunResult, run: PlannedRun) -> None:
    if rank_zero_only.rank == 0 and result.test_metrics:
        write_run_record(
            folder,
            metrics=result.test_metrics,
            objective=result.objective,
            seed=run.seed,
            fold=run.fold,
        )
