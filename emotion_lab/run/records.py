"""What a finished run leaves for later comparison, and how a comparison finds runs in folders.

A run folder is one that holds its config (``.hydra/config.yaml``) and its test metrics
(``test_metrics.json``, written by the run plan; runs made before it are read from the test
rows of ``csv/metrics.csv``). Repeat and fold sub-runs get both files too, so run folders,
multirun folders, repeat folders and sweep folders are all searched the same way: every run
folder below the given one counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from emotion_lab import files
from emotion_lab.errors import UserError
from emotion_lab.viz.plots import read_metrics_csv
from emotion_lab.viz.report import AVERAGE_ROWS

METRICS_FILE = "test_metrics.json"
CONFIG_FILE = Path(".hydra") / "config.yaml"
OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
EMBEDDINGS_FILE = "test_embeddings.npz"
REPORT_FILE = "report.md"
# The headline metrics: what a run summary, an evaluation, a repeat and a comparison report by
# default, in this order.
STANDARD_METRICS = ("test/acc", "test/f1", "test/auroc", "test/ari", "test/nmi", "test/asr_kmeans")
# Folders inside a run that never hold another run; skipping them keeps the search fast.
_NOT_RUNS = {"checkpoints", "csv", "figures", "wandb", ".hydra", "compare"}


def headline_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The standard metrics that ``metrics`` holds, in the standard order (for a summary)."""
    return {key: metrics[key] for key in STANDARD_METRICS if key in metrics}


class RunFolderError(UserError, ValueError):
    """Bad input to a comparison: a folder, key or metric named in a one-line message."""


def write_run_record(
    folder: str | os.PathLike[str],
    *,
    metrics: dict[str, float],
    objective: float,
    seed: int,
    fold: int | None = None,
) -> Path:
    """``test_metrics.json``: what a comparison reads back without opening logs or checkpoints."""
    doc = {"objective": objective, "seed": seed, "fold": fold, "metrics": metrics}
    return files.write_json(Path(folder) / METRICS_FILE, doc)


def mask_trial_storage(resolved: Any) -> Any:
    """A resolved run config (a dict) with ``trial.storage``'s password shown as ``***``, for
    what the app writes down (checkpoints, sub-run configs): a sweep's storage URL may hold one."""
    trial = resolved.get("trial") if isinstance(resolved, dict) else None
    storage = trial.get("storage") if isinstance(trial, dict) else None
    if isinstance(storage, str):
        from hydra_plugins.emotion_lab_sweeper.contract import mask_url

        trial["storage"] = mask_url(storage)
    return resolved


def write_sub_run_config(
    folder: str | os.PathLike[str], cfg: DictConfig, parent: str | os.PathLike[str]
) -> None:
    """A fold or seed sub-run's own ``.hydra/config.yaml`` (resolved) and its parent's overrides."""
    target = Path(folder)
    resolved = mask_trial_storage(OmegaConf.to_container(cfg, resolve=True))
    with files.atomic_path(target / CONFIG_FILE) as tmp:  # a comparison may be reading folders
        OmegaConf.save(OmegaConf.create(resolved), tmp)
    overrides = Path(parent) / OVERRIDES_FILE
    if overrides.is_file():
        files.write_bytes(target / OVERRIDES_FILE, overrides.read_bytes())


def _legacy_metrics(path: Path) -> dict[str, float]:
    """The last value of every ``test/`` column of a Lightning ``metrics.csv``."""
    metrics: dict[str, float] = {}
    for row in read_metrics_csv(path):
        metrics.update({k: v for k, v in row.items() if k.startswith("test/")})
    return metrics


@dataclass
class RunFolder:
    """One finished run: its folder, config, test metrics, and the seed and fold it ran with."""

    path: Path
    config: DictConfig
    metrics: dict[str, float]
    seed: int | None = None
    fold: int | None = None
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def value(self, key: str) -> Any:
        """A config value by dotted key; raises naming the key and folder when it is absent."""
        missing = object()
        value = OmegaConf.select(
            self.config, key, default=missing, throw_on_resolution_failure=False
        )
        if value is missing:
            raise RunFolderError(f"{self.path}: its config has no key {key!r}")
        if isinstance(value, DictConfig):
            return OmegaConf.to_container(value, resolve=False)
        return value

    @property
    def data_name(self) -> str | None:
        name = OmegaConf.select(self.config, "data.name", throw_on_resolution_failure=False)
        return None if name is None else str(name)

    @cached_property
    def classes(self) -> tuple[str, ...] | None:
        """Class names from the per-class table of ``report.md`` (without its average rows);
        None when it was not written."""
        report = self.path / REPORT_FILE
        if not report.is_file():
            return None
        lines = report.read_text().splitlines()
        try:
            start = next(i for i, line in enumerate(lines) if line.startswith("| class |"))
        except StopIteration:
            return None
        names = []
        for line in lines[start + 2 :]:
            if not line.startswith("|"):
                break
            name = line.strip("|").split("|")[0].strip()
            if name not in AVERAGE_ROWS:
                names.append(name)
        return tuple(names)

    @property
    def embeddings(self) -> Path | None:
        path = self.path / EMBEDDINGS_FILE
        return path if path.is_file() else None


def is_run_folder(path: Path) -> bool:
    if (path / METRICS_FILE).is_file():
        return True
    return (path / CONFIG_FILE).is_file() and (path / "csv" / "metrics.csv").is_file()


def load_run(path: str | os.PathLike[str]) -> RunFolder:
    """Read one run folder; a folder without its config or test metrics is refused by name."""
    folder = Path(path)
    if not (folder / CONFIG_FILE).is_file():
        raise RunFolderError(f"{folder}: not a run folder (no {CONFIG_FILE})")
    config = OmegaConf.load(folder / CONFIG_FILE)
    if not isinstance(config, DictConfig):
        raise RunFolderError(f"{folder / CONFIG_FILE}: expected a mapping")
    overrides: tuple[str, ...] = ()
    if (folder / OVERRIDES_FILE).is_file():
        overrides = tuple(str(o) for o in OmegaConf.load(folder / OVERRIDES_FILE))
    seed = OmegaConf.select(config, "seed", throw_on_resolution_failure=False)
    fold = OmegaConf.select(config, "data.fold", throw_on_resolution_failure=False)
    if (folder / METRICS_FILE).is_file():
        try:
            doc = json.loads((folder / METRICS_FILE).read_text())
            metrics = {str(k): float(v) for k, v in doc["metrics"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RunFolderError(f"{folder / METRICS_FILE}: unreadable ({exc})") from exc
        seed, fold = doc.get("seed", seed), doc.get("fold", fold)
    else:
        metrics = _legacy_metrics(folder / "csv" / "metrics.csv")
    if not metrics:
        raise RunFolderError(f"{folder}: the run has no test metrics (did its test step run?)")
    return RunFolder(
        path=folder,
        config=config,
        metrics=metrics,
        seed=None if seed is None else int(seed),
        fold=None if fold is None else int(fold),
        overrides=overrides,
    )


def discover_runs(path: str | os.PathLike[str]) -> list[RunFolder]:
    """Every run at or below ``path`` (a run, multirun, repeat or sweep folder), sorted by path.

    Sub-folders that are not runs (failed or pruned trials) are passed over; a ``path`` with no
    run at all is an error naming it.
    """
    root = Path(path)
    if not root.is_dir():
        raise RunFolderError(f"{root}: no such folder")
    found: list[Path] = []
    for current, dirs, _files in os.walk(root):
        here = Path(current)
        if is_run_folder(here):
            found.append(here)
            dirs.clear()  # a run's own sub-folders are its logs, not more runs
            continue
        dirs[:] = sorted(d for d in dirs if d not in _NOT_RUNS)
    if not found:
        raise RunFolderError(
            f"{root}: not a run folder and holds none ({METRICS_FILE} or {CONFIG_FILE} "
            "with csv/metrics.csv)"
        )
    return [load_run(p) for p in sorted(found)]
