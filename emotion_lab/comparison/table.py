"""``python -m emotion_lab.comparison.table <folders...>``: is a difference between settings real?

Finds every run under the given folders (runs, multiruns, repeats, sweeps, in any mix), groups
them (``--by loss.beta``, or by the command-line overrides that differ between runs), and
writes one table: per group and metric n, mean and 95 % t-interval, the difference to a
reference group with its interval, and the test behind it: paired t (plus Wilcoxon's p) when
the two groups ran the same (fold, seed) pairs, Welch's t otherwise. A difference whose
interval covers 0 is "within noise". The table goes to the console, ``compare.md`` and
``compare.csv``, with a forest plot, optional side-by-side UMAPs, and a W&B run of job type
``compare`` holding the same table.

    python -m emotion_lab.comparison.table outputs/train/multiruns/<date> --by loss.beta --reference 0
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from emotion_lab import files
from emotion_lab.comparison.stats import (
    Difference,
    Interval,
    paired_difference,
    t_interval,
    welch_difference,
)
from emotion_lab.run.records import STANDARD_METRICS, RunFolder, RunFolderError, discover_runs
from emotion_lab.viz import compare_plots
from emotion_lab.viz.plots import save_figure

# Override keys that say how a run was run, not what was compared.
_NOT_SETTINGS = ("seed", "repeat.", "hydra.", "paths.", "logger.", "trial.", "data.fold")
COLUMNS = [
    "metric",
    "group",
    "n",
    "mean",
    "std",
    "ci95_low",
    "ci95_high",
    "diff",
    "diff_ci95_low",
    "diff_ci95_high",
    "test",
    "p",
    "wilcoxon_p",
    "verdict",
]


@dataclass
class Group:
    """Runs of one setting; ``values`` are what ``--by`` read (or the differing overrides)."""

    label: str
    values: tuple[Any, ...]
    runs: list[RunFolder] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """One metric of one group, and how it differs from the reference group's."""

    metric: str
    group: str
    interval: Interval
    difference: Difference | None  # None for the reference group itself
    reference_n: int = 0

    @property
    def verdict(self) -> str:
        if self.difference is None:
            return "reference"
        if self.interval.n < 2:
            return "n < 2: no interval"
        if self.difference.within_noise:
            return "within noise"
        return "higher" if self.difference.interval.mean > 0 else "lower"


@dataclass
class Comparison:
    """What a comparison computed and where it wrote it."""

    groups: list[Group]
    metrics: list[str]
    reference: str
    rows: list[Row]
    files: dict[str, Path] = field(default_factory=dict)


def _override_items(run: RunFolder) -> dict[str, str]:
    items = {}
    for text in run.overrides:
        key, _, value = text.partition("=")
        key = key.lstrip("+~")
        if key == "seed" or key.startswith(_NOT_SETTINGS):
            continue
        items[key] = value
    return items


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order before anything else in text order."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def group_runs(runs: Sequence[RunFolder], by: Sequence[str] = ()) -> list[Group]:
    """Groups of runs by the config keys ``by``, or by the overrides that differ between runs."""
    keyed: dict[tuple[Any, ...], Group] = {}
    if by:
        keys = list(by)
        values_of = [tuple(run.value(k) for k in keys) for run in runs]
    else:
        items = [_override_items(run) for run in runs]
        keys = sorted(
            {k for it in items for k in it if len({it.get(k) for it in items}) > 1},
        )
        values_of = [tuple(it.get(k) for k in keys) for it in items]
    for run, values in zip(runs, values_of, strict=True):
        hashable = tuple(str(v) for v in values)
        if hashable not in keyed:
            label = ", ".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
            keyed[hashable] = Group(label or "all runs", values)
        keyed[hashable].runs.append(run)
    return sorted(keyed.values(), key=lambda g: tuple(_sort_key(v) for v in g.values))


def check_comparable(runs: Sequence[RunFolder]) -> None:
    """Runs on different data sets or class lists cannot be compared: name the odd folder."""
    first = runs[0]
    for run in runs[1:]:
        if run.data_name != first.data_name:
            raise RunFolderError(
                f"{run.path}: data set {run.data_name!r}, but {first.path} used "
                f"{first.data_name!r}; compare runs on one data set"
            )
    known = [run for run in runs if run.classes is not None]
    for run in known[1:]:
        if run.classes != known[0].classes:
            raise RunFolderError(
                f"{run.path}: classes {list(run.classes or ())} differ from "
                f"{list(known[0].classes or ())} of {known[0].path}"
            )


def choose_metrics(runs: Sequence[RunFolder], requested: Sequence[str] = ()) -> list[str]:
    """The metrics to compare; every run must have each of them, else name the run and key."""
    if requested:
        metrics = list(requested)
    else:
        metrics = [m for m in STANDARD_METRICS if any(m in run.metrics for run in runs)]
        if not metrics:
            raise RunFolderError(
                f"{runs[0].path}: none of {', '.join(STANDARD_METRICS)} was logged; "
                "choose metrics with --metric"
            )
    for metric in metrics:
        for run in runs:
            if metric not in run.metrics:
                have = ", ".join(sorted(run.metrics))
                raise RunFolderError(f"{run.path}: no metric {metric!r} (it has {have})")
    return metrics


def _pairs(group: Group) -> dict[tuple[int | None, int | None], RunFolder] | None:
    """The group's runs by (fold, seed), or None when a pair key is missing or repeated."""
    keyed = {(r.fold, r.seed): r for r in group.runs}
    if len(keyed) != len(group.runs) or any(seed is None for _, seed in keyed):
        return None
    return keyed


def difference(reference: Group, group: Group, metric: str) -> Difference:
    """Paired t on common (fold, seed) pairs when both groups ran exactly the same ones."""
    ref_pairs, pairs = _pairs(reference), _pairs(group)
    if ref_pairs and pairs and set(ref_pairs) == set(pairs) and len(pairs) >= 2:
        keys = sorted(pairs, key=lambda k: (k[0] is not None, k[0] or 0, k[1] or 0))
        return paired_difference(
            [ref_pairs[k].metrics[metric] for k in keys], [pairs[k].metrics[metric] for k in keys]
        )
    return welch_difference(
        [r.metrics[metric] for r in reference.runs], [r.metrics[metric] for r in group.runs]
    )


def _find_reference(groups: Sequence[Group], reference: str | None) -> Group:
    if reference is None:
        return groups[0]
    for group in groups:
        values = [str(v) for v in group.values]
        if reference == group.label or (len(values) == 1 and _same(values[0], reference)):
            return group
    labels = "; ".join(g.label for g in groups)
    raise RunFolderError(f"--reference {reference}: no group has it (groups: {labels})")


def _same(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def build_rows(groups: Sequence[Group], metrics: Sequence[str], reference: Group) -> list[Row]:
    rows = []
    for metric in metrics:
        for group in groups:
            iv = t_interval([r.metrics[metric] for r in group.runs])
            diff = None if group is reference else difference(reference, group, metric)
            rows.append(Row(metric, group.label, iv, diff, len(reference.runs)))
    return rows


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _display(row: Row) -> list[str]:
    """Console and markdown cells of a row."""
    iv, diff = row.interval, row.difference
    cells = [row.metric, row.group, str(iv.n), _num(iv.mean), f"[{_num(iv.low)}, {_num(iv.high)}]"]
    if diff is None:
        return [*cells, "", "", "", "", "", row.verdict]
    d = diff.interval
    sizes = f"n={d.n}" if diff.test == "paired t" else f"{row.reference_n} vs {iv.n}"
    test = f"{diff.test} ({sizes})"
    return [
        *cells,
        f"{d.mean:+.4f}",
        f"[{_num(d.low)}, {_num(d.high)}]",
        test,
        _p(diff.p),
        _p(diff.wilcoxon_p),
        row.verdict,
    ]


DISPLAY_HEADER = [
    "metric",
    "group",
    "n",
    "mean",
    "95 % CI",
    "Δ vs ref",
    "Δ 95 % CI",
    "test",
    "p",
    "Wilcoxon p",
    "verdict",
]


def csv_cells(row: Row) -> list[Any]:
    """Full-precision cells of a row in :data:`COLUMNS` order; None where there is no value."""

    def num(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else v

    iv, diff = row.interval, row.difference
    head = [row.metric, row.group, iv.n, num(iv.mean), num(iv.std), num(iv.low), num(iv.high)]
    if diff is None:
        return [*head, None, None, None, None, None, None, row.verdict]
    d = diff.interval
    return [
        *head,
        num(d.mean),
        num(d.low),
        num(d.high),
        diff.test,
        num(diff.p),
        num(diff.wilcoxon_p),
        row.verdict,
    ]


def _notes(comparison: Comparison) -> str:
    runs = sum(len(g.runs) for g in comparison.groups)
    return (
        f"{runs} runs in {len(comparison.groups)} groups; reference: {comparison.reference}. "
        "Intervals are 95 % t-intervals; Δ = group − reference, by paired t when both groups ran "
        "the same (fold, seed) pairs (Wilcoxon signed-rank p beside it), else Welch t. "
        "'within noise': the interval of Δ covers 0."
    )


def print_table(comparison: Comparison, console: Console | None = None) -> None:
    table = Table(title="emotion-lab comparison", title_justify="left")
    for name in DISPLAY_HEADER:
        table.add_column(name, justify="right" if name in ("n", "p", "Wilcoxon p") else "left")
    previous = None
    for row in comparison.rows:
        if previous is not None and row.metric != previous:
            table.add_section()
        previous = row.metric
        table.add_row(*_display(row))
    console = console or Console(width=180)
    console.print(table)
    console.print(_notes(comparison))


def write_markdown(comparison: Comparison, path: Path) -> Path:
    lines = [
        "# Comparison",
        "",
        _notes(comparison),
        "",
        "| " + " | ".join(DISPLAY_HEADER) + " |",
        "|" + "---|" * len(DISPLAY_HEADER),
    ]
    lines += ["| " + " | ".join(_display(row)) + " |" for row in comparison.rows]
    lines += ["", "## Runs", ""]
    for group in comparison.groups:
        lines.append(f"- {group.label}: " + ", ".join(str(r.path) for r in group.runs))
    images = [(n, p) for n, p in comparison.files.items() if p.suffix == ".png"]
    for name, image in images:
        lines += ["", f"![{name}]({os.path.relpath(image, path.parent)})"]
    return files.write_text(path, "\n".join(lines) + "\n")


def write_csv(comparison: Comparison, path: Path) -> Path:
    with files.atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in comparison.rows:
            writer.writerow(["" if cell is None else cell for cell in csv_cells(row)])
    return path


def _umap_runs(groups: Sequence[Group], chosen: Sequence[str]) -> list[tuple[str, RunFolder]]:
    """The runs to draw: the chosen folders, else the first (fold, seed) of every group."""
    if chosen:
        by_path = {r.path.resolve(): (g.label, r) for g in groups for r in g.runs}
        picked = []
        for folder in chosen:
            key = Path(folder).resolve()
            if key not in by_path:
                raise RunFolderError(f"--umap-runs {folder}: not one of the compared runs")
            picked.append(by_path[key])
        return picked
    return [(g.label, min(g.runs, key=lambda r: (r.fold or 0, r.seed or 0))) for g in groups]


def plot_umaps(groups: Sequence[Group], chosen: Sequence[str], path: Path) -> Path:
    panels = []
    classes: tuple[str, ...] | None = None
    for label, run in _umap_runs(groups, chosen):
        if run.embeddings is None:
            raise RunFolderError(f"{run.path}: no test_embeddings.npz to draw a UMAP from")
        with np.load(run.embeddings) as data:
            embeddings, labels = data["embeddings"], data["labels"]
        title = f"{label} (seed {run.seed})" if run.seed is not None else label
        panels.append(compare_plots.EmbeddingPanel(title, embeddings, labels))
        classes = classes or run.classes
    n_classes = 1 + max(int(p.labels.max()) for p in panels)
    names = classes or tuple(str(i) for i in range(n_classes))
    return save_figure(compare_plots.plot_umaps_side_by_side(panels, names), path)


def wandb_group(comparison: Comparison, out_dir: Path) -> str | None:
    """The W&B group of the runs compared, so that the table sits beside them: the one group
    their configs name, else the group a multirun's jobs get (``<task>-<multirun folder>``)."""
    runs = [r for g in comparison.groups for r in g.runs]
    named = {OmegaConf.select(r.config, "logger.wandb.group", default=None) for r in runs}
    if len(named) == 1 and None not in named:
        return str(named.pop())
    folder = out_dir.parent.resolve() if out_dir.name == "compare" else None
    if folder is not None and all(folder in r.path.resolve().parents for r in runs):
        task = OmegaConf.select(runs[0].config, "task_name", default=None) or "train"
        return f"{task}-{folder.name}"
    return None


def log_to_wandb(comparison: Comparison, out_dir: Path, mode: str) -> Path | None:
    """The table (and pictures) as a W&B run of job type ``compare``; offline by default."""
    if mode == "disabled":
        return None
    import wandb

    first = comparison.groups[0].runs[0]
    project = OmegaConf.select(first.config, "logger.wandb.project", default=None)
    run = wandb.init(
        project=str(project or "emotion-lab"),
        job_type="compare",
        group=wandb_group(comparison, out_dir),
        mode=mode,  # type: ignore[arg-type]
        dir=str(out_dir),
        name=f"compare-{out_dir.parent.name if out_dir.name == 'compare' else out_dir.name}",
        config={
            "groups": [g.label for g in comparison.groups],
            "reference": comparison.reference,
            "metrics": comparison.metrics,
            "runs": [str(r.path) for g in comparison.groups for r in g.runs],
        },
    )
    try:
        table = wandb.Table(columns=COLUMNS, data=[csv_cells(r) for r in comparison.rows])
        images = {
            f"figures/{name}": wandb.Image(str(p))
            for name, p in comparison.files.items()
            if p.suffix == ".png"
        }
        run.log({"compare": table, **images})
        return Path(run.dir).parent
    finally:
        run.finish()


def default_out_dir(folders: Sequence[str | os.PathLike[str]]) -> Path:
    if len(folders) == 1:
        return Path(folders[0]) / "compare"
    return Path("outputs") / "compare" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def run_compare(
    folders: Sequence[str | os.PathLike[str]],
    *,
    by: Sequence[str] = (),
    metrics: Sequence[str] = (),
    reference: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    umap: bool = False,
    umap_runs: Sequence[str] = (),
    wandb_mode: str = "offline",
    console: Console | None = None,
) -> Comparison:
    """Discover, check, group, compare, and write every output; returns what it computed."""
    if not folders:
        raise RunFolderError("compare needs at least one folder")
    runs: list[RunFolder] = []
    seen: set[Path] = set()
    for folder in folders:
        for run in discover_runs(folder):
            if run.path.resolve() not in seen:
                seen.add(run.path.resolve())
                runs.append(run)
    check_comparable(runs)
    chosen = choose_metrics(runs, metrics)
    groups = group_runs(runs, by)
    ref = _find_reference(groups, reference)
    comparison = Comparison(groups, chosen, ref.label, build_rows(groups, chosen, ref))
    out = Path(out_dir) if out_dir is not None else default_out_dir(folders)
    out.mkdir(parents=True, exist_ok=True)
    intervals = {(row.metric, row.group): row.interval for row in comparison.rows}
    forest = compare_plots.plot_forest(chosen, [g.label for g in groups], intervals, ref.label)
    comparison.files["forest"] = save_figure(forest, out / "compare_forest.png")
    if umap or umap_runs:
        comparison.files["umap"] = plot_umaps(groups, umap_runs, out / "compare_umap.png")
    comparison.files["csv"] = write_csv(comparison, out / "compare.csv")
    comparison.files["markdown"] = write_markdown(comparison, out / "compare.md")
    print_table(comparison, console)
    wandb_dir = log_to_wandb(comparison, out, wandb_mode)
    where = ", ".join(str(p) for p in comparison.files.values())
    (console or Console(width=180)).print(
        f"written: {where}" + (f"; W&B: {wandb_dir}" if wandb_dir else "")
    )
    return comparison
