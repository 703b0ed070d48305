"""Claim sets: what a paper's table reports, the runs that test it, and the verdicts.

A claim set is one YAML file, ``conf/claims/<paper>/<name>.yaml``: the paper's numbers of one
table or study and the runs that test them::

    name: s000/table3                 # its path under conf/claims, without .yaml
    title: "S000 Table 3: β on WEBEmo sadness"
    paper: "S000: ..."                # which paper (seeds/000_*.txt)
    experiment: s000_webemo           # the base experiment of every setting
    data: webemo                      # the data set the paper's numbers are on
    seeds: 3                          # seeds per setting: K (42 … 42+K-1) or a list
    settings:                         # one a row of the paper's table
      - label: beta_0                 # its folder name; [A-Za-z0-9_.-]
        name: "β = 0 (baseline)"      # how the table calls it
        overrides: [loss.beta=0]      # train overrides on top of the experiment
        experiment: s000_webemo       # optional: another experiment for this row
        data: webemo                  # optional: another data set for this row
        source: "Table 3, row β = 0.0"
        paper: {test/acc: 0.8214, test/ari: 0.0987}   # the paper's numbers, by our metric
    comparisons:                      # what the paper says one setting does against another
      - {better: beta_1.0, worse: beta_0, metric: test/acc, direction: higher, source: "§V-A"}
    notes: ["..."]

Metrics are a run's test metrics (``test/acc`` … from ``test_metrics.json``) or a logged
column of its ``csv/metrics.csv`` taken at the last epoch, or its lowest or highest value:
``train/acc@last``, ``val/loss_unweighted@min``, ``val/acc@max``.

A setting's value per seed is its run's (with cross-validation, the mean over the seed's folds);
ours is the mean over seeds with its 95 % t-interval. A paper's number is **reproduced** when our
interval holds it, else ours is **higher** or **lower**. A comparative claim (``better`` beats
``worse`` on ``metric`` in ``direction``) is judged by the paired t-interval of better − worse
over common seeds: it **holds** when the interval lies on the claimed side of 0, is **within
noise** when it covers 0, and is **reversed** when it lies on the other side (``direction:
equal``, "no difference": **holds** when the interval covers 0, else it **differs**).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from emotion_lab import files
from emotion_lab.comparison.stats import Difference, Interval, paired_difference, t_interval
from emotion_lab.errors import ConfigError
from emotion_lab.run.records import METRICS_FILE, RunFolder, load_run
from emotion_lab.viz.plots import _new_figure, read_metrics_csv, save_figure

FIRST_SEED = 42  # train's default seed: K seeds are 42 … 42+K-1, as repeat.seeds=K
SCALES = ("full", "smoke")
DIRECTIONS = ("higher", "lower", "equal")
AGGREGATES = ("last", "min", "max")
NOT_RUN = "not run"
NO_INTERVAL = "n < 2: no interval"
NOT_LOGGED = "not logged"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_METRIC = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)+(@(last|min|max))?$")
METRIC_NAMES = {
    "test/acc": "accuracy",
    "test/f1": "macro-F1",
    "test/precision": "macro precision",
    "test/recall": "macro recall",
    "test/auroc": "AUC",
    "test/ari": "ARI",
    "test/nmi": "NMI",
    "test/asr_kmeans": "ASR",
    "test/loss": "loss",
    "train/acc": "train accuracy",
    "train/loss": "train loss",
    "val/acc": "val accuracy",
    "val/loss": "val loss",
    "val/loss_unweighted": "val loss (unweighted)",
}
_AT = {"last": "last epoch", "min": "lowest", "max": "highest"}
SMOKE_NOTE = (
    "Smoke scale: these numbers come from `scale=smoke` (every run shrunk to one epoch of a few "
    "batches on the built-in generated data). They test the machinery and are not the paper's."
)


def metric_label(metric: str) -> str:
    """How a table names a metric: ``test/acc`` → accuracy, ``train/acc@last`` → train accuracy
    (last epoch)."""
    key, _, how = metric.partition("@")
    name = METRIC_NAMES.get(key, key)
    return f"{name} ({_AT[how]})" if how in _AT else name


# --------------------------------------------------------------------------- the claim set


@dataclass(frozen=True)
class Setting:
    """One row of the paper's table: a labelled set of overrides on an experiment."""

    label: str
    name: str
    experiment: str
    data: str | None
    overrides: tuple[str, ...] = ()
    source: str = ""
    paper: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """One number the paper reports: a setting's metric on a data set, and where it is."""

    setting: str
    metric: str
    value: float
    data: str | None
    source: str


@dataclass(frozen=True)
class Comparative:
    """``better`` beats ``worse`` on ``metric``: higher, lower, or (``equal``) no different."""

    better: str
    worse: str
    metric: str
    direction: str
    source: str = ""
    paper_delta: float | None = None  # better − worse in the paper's numbers, when it has both

    @property
    def text(self) -> str:
        if self.direction == "equal":
            return f"{self.better} ≈ {self.worse}: {metric_label(self.metric)} no different"
        sign = ">" if self.direction == "higher" else "<"
        return f"{self.better} {sign} {self.worse} on {metric_label(self.metric)}"


@dataclass(frozen=True)
class ClaimSet:
    name: str
    title: str
    paper: str
    experiment: str
    seeds: tuple[int, ...]
    settings: tuple[Setting, ...]
    comparisons: tuple[Comparative, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def claims(self) -> list[Claim]:
        return [
            Claim(s.label, metric, value, s.data, s.source)
            for s in self.settings
            for metric, value in s.paper.items()
        ]

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.settings]

    def setting(self, label: str) -> Setting:
        for s in self.settings:
            if s.label == label:
                return s
        raise KeyError(label)

    def metrics_of(self, label: str) -> list[str]:
        """Every metric a claim or comparison reads from the setting, in first-use order."""
        wanted = list(self.setting(label).paper)
        for c in self.comparisons:
            if label in (c.better, c.worse):
                wanted.append(c.metric)
        return list(dict.fromkeys(wanted))

    def only(self, labels: Sequence[str]) -> ClaimSet:
        """The claim set cut to ``labels`` (and the comparisons between those)."""
        unknown = [label for label in labels if label not in self.labels]
        if unknown:
            raise ConfigError(
                f"only: no setting {', '.join(unknown)} in claim set {self.name} "
                f"(its settings: {', '.join(self.labels)})"
            )
        keep = set(labels)
        return replace(
            self,
            settings=tuple(s for s in self.settings if s.label in keep),
            comparisons=tuple(c for c in self.comparisons if c.better in keep and c.worse in keep),
        )

    def with_seeds(self, seeds: tuple[int, ...]) -> ClaimSet:
        return replace(self, seeds=seeds)


def parse_seeds(value: Any, key: str) -> tuple[int, ...]:
    """``K`` → 42 … 42+K-1; a list of distinct integers as given."""
    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value)
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a count >= 1 or a list of seeds, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{key} must be a count >= 1 or a list of seeds, got {value}")
        return tuple(range(FIRST_SEED, FIRST_SEED + value))
    if isinstance(value, list | tuple) and value:
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            raise ConfigError(f"{key} must list whole numbers, got {value!r}")
        if len(set(value)) != len(value):
            raise ConfigError(f"{key} lists a seed twice: {value!r}")
        return tuple(int(s) for s in value)
    raise ConfigError(f"{key} must be a count >= 1 or a list of seeds, got {value!r}")


def _text(node: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = node.get(key, default)
    if value is None or not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def _metric(metric: Any, where: str) -> str:
    if not isinstance(metric, str) or not _METRIC.match(metric):
        raise ConfigError(
            f"{where}: {metric!r} is not a metric (test/<name>, or a logged column with "
            "@last, @min or @max, e.g. train/acc@last)"
        )
    return metric


def _setting(node: Any, index: int, defaults: Mapping[str, Any]) -> Setting:
    where = f"claims.settings[{index}]"
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where} must be a mapping with label, overrides, source, paper")
    label = _text(node, "label", where)
    if not _LABEL.match(label):
        raise ConfigError(f"{where}.label={label!r}: use letters, digits, '_', '.', '-' only")
    overrides = node.get("overrides") or []
    if not isinstance(overrides, Sequence) or isinstance(overrides, str):
        raise ConfigError(f"{where}.overrides must be a list of key=value, got {overrides!r}")
    for text in overrides:
        if not isinstance(text, str) or "=" not in text:
            raise ConfigError(f"{where}.overrides: {text!r} is not key=value")
        key = text.partition("=")[0].lstrip("+~")
        if key in ("experiment", "seed") or key.startswith(("hydra.", "hydra/")):
            raise ConfigError(
                f"{where}.overrides: {text!r} belongs elsewhere (experiment: the setting's "
                "experiment key; seeds: the claim set's seeds; launching: reproduce's launcher)"
            )
    paper = node.get("paper") or {}
    if not isinstance(paper, Mapping):
        raise ConfigError(f"{where}.paper must map metrics to the paper's values, got {paper!r}")
    values: dict[str, float] = {}
    for metric, value in paper.items():
        _metric(metric, f"{where}.paper")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{where}.paper.{metric} must be a number, got {value!r}")
        values[str(metric)] = float(value)
    data = node.get("data", defaults.get("data"))
    return Setting(
        label=label,
        name=str(node.get("name") or label),
        experiment=_text(node, "experiment", where, defaults.get("experiment")),
        data=None if data is None else str(data),
        overrides=tuple(str(o) for o in overrides),
        source=str(node.get("source") or ""),
        paper=values,
    )


def _comparative(node: Any, index: int, settings: Mapping[str, Setting]) -> Comparative:
    where = f"claims.comparisons[{index}]"
    if not isinstance(node, Mapping):
        raise ConfigError(f"{where} must be a mapping with better, worse, metric, direction")
    better, worse = _text(node, "better", where), _text(node, "worse", where)
    for key, label in (("better", better), ("worse", worse)):
        if label not in settings:
            raise ConfigError(
                f"{where}.{key}={label!r}: no such setting (settings: {', '.join(settings)})"
            )
    if better == worse:
        raise ConfigError(f"{where}: better and worse are the same setting ({better})")
    metric = _metric(node.get("metric"), f"{where}.metric")
    direction = node.get("direction")
    if direction not in DIRECTIONS:
        raise ConfigError(
            f"{where}.direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}"
        )
    a, b = settings[better].paper.get(metric), settings[worse].paper.get(metric)
    delta = node.get("paper_delta")
    if delta is None and a is not None and b is not None:
        delta = a - b
    return Comparative(
        better,
        worse,
        metric,
        str(direction),
        str(node.get("source") or ""),
        None if delta is None else float(delta),
    )


def claim_set_from_config(node: DictConfig | Mapping[str, Any]) -> ClaimSet:
    """Read and check a claim set (``cfg.claims``); a bad entry is a one-line ConfigError."""
    doc = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if not isinstance(doc, Mapping):
        raise ConfigError(f"claims must be a mapping, got {type(doc).__name__}")
    name = _text(doc, "name", "claims")
    experiment = _text(doc, "experiment", "claims")
    raw_settings = doc.get("settings")
    if not isinstance(raw_settings, Sequence) or isinstance(raw_settings, str) or not raw_settings:
        raise ConfigError("claims.settings must be a non-empty list of settings")
    defaults = {"experiment": experiment, "data": doc.get("data")}
    settings = [_setting(s, i, defaults) for i, s in enumerate(raw_settings)]
    by_label: dict[str, Setting] = {}
    for s in settings:
        if s.label in by_label:
            raise ConfigError(f"claims.settings: the label {s.label!r} is used twice")
        by_label[s.label] = s
    raw_comparisons = doc.get("comparisons") or []
    if not isinstance(raw_comparisons, Sequence) or isinstance(raw_comparisons, str):
        raise ConfigError("claims.comparisons must be a list")
    notes = doc.get("notes") or []
    return ClaimSet(
        name=name,
        title=str(doc.get("title") or name),
        paper=str(doc.get("paper") or ""),
        experiment=experiment,
        seeds=parse_seeds(doc.get("seeds", 3), "claims.seeds"),
        settings=tuple(settings),
        comparisons=tuple(_comparative(c, i, by_label) for i, c in enumerate(raw_comparisons)),
        notes=tuple(str(n) for n in notes),
    )


# --------------------------------------------------------------------------- run folders


def seed_folder(setting_dir: Path, seed: int) -> Path:
    """Where the run of one seed of a setting lives (the training multirun's subdir)."""
    return setting_dir / f"seed_{seed}"


def finished_runs(folder: Path, folds: int | None) -> list[RunFolder] | None:
    """The runs of one (setting, seed) when all have their test records (one run, or one a
    fold with cross-validation); None while any is missing."""
    paths = [folder] if not folds else [folder / f"fold_{k}" for k in range(folds)]
    if not all((p / METRICS_FILE).is_file() for p in paths):
        return None
    return [load_run(p) for p in paths]


def split_metric(metric: str) -> tuple[str, str | None]:
    key, _, how = metric.partition("@")
    return key, (how or None)


@lru_cache(maxsize=256)
def _logged(path: str, mtime: float) -> tuple[dict[str, float], ...]:
    return tuple(read_metrics_csv(path))


def logged_rows(run_dir: Path) -> list[dict[str, float]]:
    """The rows of a run's ``csv/metrics.csv`` ([] when it has none)."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    return list(_logged(str(path), path.stat().st_mtime))


def run_value(run: RunFolder, metric: str) -> float | None:
    """One run's value of ``metric``; None when the run did not log it."""
    key, how = split_metric(metric)
    if how is None:
        value = run.metrics.get(key)
        return None if value is None else float(value)
    values = [row[key] for row in logged_rows(run.path) if key in row]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    return values[-1] if how == "last" else (min(values) if how == "min" else max(values))


def seed_values(runs: Sequence[RunFolder], metrics: Iterable[str]) -> dict[str, float]:
    """A seed's value of each metric: its run's, or the mean over its folds' runs; a metric
    that a run did not log is left out."""
    out: dict[str, float] = {}
    for metric in metrics:
        values = [run_value(r, metric) for r in runs]
        if values and all(v is not None for v in values):
            out[metric] = float(np.mean([float(v) for v in values if v is not None]))
    return out


# --------------------------------------------------------------------------- verdicts


def claim_verdict(interval: Interval | None, value: float) -> str:
    """reproduced (the paper's value inside our interval), higher or lower (ours)."""
    if interval is None or interval.n == 0:
        return NOT_RUN
    if interval.n < 2 or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return NO_INTERVAL
    if interval.covers(value):
        return "reproduced"
    return "higher" if interval.low > value else "lower"


def comparative_verdict(difference: Difference | None, direction: str) -> str:
    """holds, within noise or reversed, from the interval of better − worse over seeds."""
    if difference is None or difference.interval.n == 0:
        return NOT_RUN
    iv = difference.interval
    if iv.n < 2 or not (math.isfinite(iv.low) and math.isfinite(iv.high)):
        return NO_INTERVAL
    above, below = iv.low > 0, iv.high < 0
    if direction == "equal":
        return "differs" if above or below else "holds"
    if not above and not below:
        return "within noise"
    return "holds" if (above if direction == "higher" else below) else "reversed"


@dataclass(frozen=True)
class ClaimRow:
    claim: Claim
    setting_name: str
    interval: Interval | None
    verdict: str
    ran_on: str | None = None  # the data set our runs used, where it is not the paper's

    @property
    def data_text(self) -> str:
        paper = self.claim.data or "–"
        if self.ran_on is None or self.ran_on == self.claim.data:
            return paper
        return f"{self.ran_on} (paper: {paper})"

    @property
    def delta(self) -> float | None:
        return None if self.interval is None else self.interval.mean - self.claim.value


@dataclass(frozen=True)
class ComparativeRow:
    comparative: Comparative
    difference: Difference | None
    verdict: str


# Values per setting label, then per seed: {metric: value}.
Results = Mapping[str, Mapping[int, Mapping[str, float]]]


def claim_rows(
    claim_set: ClaimSet, results: Results, ran_on: Mapping[str, str] | None = None
) -> list[ClaimRow]:
    rows = []
    for claim in claim_set.claims:
        per_seed = results.get(claim.setting, {})
        values = [v[claim.metric] for v in per_seed.values() if claim.metric in v]
        interval = t_interval(values) if values else None
        verdict = claim_verdict(interval, claim.value)
        if interval is None and per_seed:
            verdict = NOT_LOGGED
        name = claim_set.setting(claim.setting).name
        rows.append(ClaimRow(claim, name, interval, verdict, (ran_on or {}).get(claim.setting)))
    return rows


def comparative_rows(claim_set: ClaimSet, results: Results) -> list[ComparativeRow]:
    rows = []
    for comp in claim_set.comparisons:
        better, worse = results.get(comp.better, {}), results.get(comp.worse, {})
        seeds = sorted(
            s
            for s in set(better) & set(worse)
            if comp.metric in better[s] and comp.metric in worse[s]
        )
        diff = None
        if seeds:
            diff = paired_difference(
                [worse[s][comp.metric] for s in seeds], [better[s][comp.metric] for s in seeds]
            )
        verdict = comparative_verdict(diff, comp.direction)
        if diff is None and better and worse:
            verdict = NOT_LOGGED if set(better) & set(worse) else "no common seeds"
        rows.append(ComparativeRow(comp, diff, verdict))
    return rows


# --------------------------------------------------------------------------- the table


@dataclass
class Reproduction:
    """What a reproduce computed for one claim set and where it wrote it."""

    claim_set: ClaimSet
    scale: str
    results: dict[str, dict[int, dict[str, float]]]
    claims: list[ClaimRow]
    comparisons: list[ComparativeRow]
    not_run: dict[str, str] = field(default_factory=dict)  # setting label → why
    run_dirs: dict[str, list[Path]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def verdicts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in [*self.claims, *self.comparisons]:
            counts[row.verdict] = counts.get(row.verdict, 0) + 1
        return counts


def evaluate(
    claim_set: ClaimSet,
    results: Mapping[str, Mapping[int, Mapping[str, float]]],
    scale: str = "full",
    not_run: Mapping[str, str] | None = None,
    run_dirs: Mapping[str, Sequence[Path]] | None = None,
    ran_on: Mapping[str, str] | None = None,
) -> Reproduction:
    """The table of a claim set from each setting's values per seed; ``ran_on`` names the data
    set each setting's runs used (shown where it is not the paper's, as at scale=smoke)."""
    plain = {label: {int(s): dict(v) for s, v in seeds.items()} for label, seeds in results.items()}
    return Reproduction(
        claim_set,
        scale,
        plain,
        claim_rows(claim_set, plain, ran_on),
        comparative_rows(claim_set, plain),
        dict(not_run or {}),
        {k: list(v) for k, v in (run_dirs or {}).items()},
    )


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _ours(iv: Interval | None) -> str:
    if iv is None:
        return "–"
    if iv.n < 2 or not math.isfinite(iv.low):
        return f"{_num(iv.mean)} (n = {iv.n})"
    return f"{_num(iv.mean)} ± {_num(iv.half_width)} [{_num(iv.low)}, {_num(iv.high)}]"


CLAIM_HEADER = [
    "setting",
    "metric",
    "data set",
    "source",
    "paper",
    "ours (95 % CI)",
    "n",
    "Δ",
    "verdict",
]
COMPARATIVE_HEADER = [
    "claim",
    "source",
    "paper Δ",
    "ours Δ (95 % CI)",
    "n",
    "paired t p",
    "Wilcoxon p",
    "verdict",
]


def claim_cells(row: ClaimRow) -> list[str]:
    iv = row.interval
    return [
        row.setting_name,
        metric_label(row.claim.metric),
        row.data_text,
        row.claim.source,
        _num(row.claim.value),
        _ours(iv),
        "0" if iv is None else str(iv.n),
        "–" if row.delta is None else f"{row.delta:+.4f}",
        row.verdict,
    ]


def comparative_cells(row: ComparativeRow) -> list[str]:
    c, diff = row.comparative, row.difference
    delta = "–" if c.paper_delta is None else f"{c.paper_delta:+.4f}"
    if diff is None:
        return [c.text, c.source, delta, "–", "0", "–", "–", row.verdict]
    d = diff.interval
    ours = f"{d.mean:+.4f}" + (
        f" [{_num(d.low)}, {_num(d.high)}]" if math.isfinite(d.low) and d.n > 1 else ""
    )
    return [c.text, c.source, delta, ours, str(d.n), _p(diff.p), _p(diff.wilcoxon_p), row.verdict]


def _intro(rep: Reproduction) -> list[str]:
    cs = rep.claim_set
    lines = []
    if rep.scale == "smoke":
        lines += [f"**{SMOKE_NOTE}**", ""]
    seeds = ", ".join(map(str, cs.seeds))
    lines.append(
        f"Claim set `{cs.name}` ({cs.paper}): {len(cs.settings)} settings × {len(cs.seeds)} "
        f"seeds ({seeds}), scale `{rep.scale}`. Ours: mean ± half-width [95 % t-interval] over "
        "seeds; Δ = ours − paper. A paper's number is *reproduced* when our interval holds it, "
        "else ours is *higher* or *lower*. Comparative claims: paired t over common seeds of "
        "better − worse (Wilcoxon's p beside it); *holds* when the interval lies on the claimed "
        "side of 0, *within noise* when it covers 0, *reversed* otherwise."
    )
    return lines


def write_markdown(rep: Reproduction, path: Path) -> Path:
    cs = rep.claim_set
    lines = [f"# Reproducing {cs.title}", "", *_intro(rep), ""]
    lines += ["## The paper's numbers against ours", ""]
    lines += ["| " + " | ".join(CLAIM_HEADER) + " |", "|" + "---|" * len(CLAIM_HEADER)]
    lines += ["| " + " | ".join(claim_cells(r)) + " |" for r in rep.claims]
    if rep.comparisons:
        lines += ["", "## Comparative claims", ""]
        lines += [
            "| " + " | ".join(COMPARATIVE_HEADER) + " |",
            "|" + "---|" * len(COMPARATIVE_HEADER),
        ]
        lines += ["| " + " | ".join(comparative_cells(r)) + " |" for r in rep.comparisons]
    counts = ", ".join(f"{n} {v}" for v, n in sorted(rep.verdicts().items()))
    lines += ["", f"Verdicts: {counts}."]
    if rep.not_run:
        lines += ["", "## Not run", ""]
        lines += [f"- {label}: {why}" for label, why in rep.not_run.items()]
    if cs.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in cs.notes]
    if rep.run_dirs:
        lines += ["", "## Runs", ""]
        for label, dirs in rep.run_dirs.items():
            shown = ", ".join(os.path.relpath(d, path.parent) for d in dirs)
            lines.append(f"- {label}: {shown or '–'}")
    images = [(n, p) for n, p in rep.files.items() if p.suffix == ".png"]
    for name, image in images:
        lines += ["", f"![{name}]({os.path.relpath(image, path.parent)})"]
    return files.write_text(path, "\n".join(lines) + "\n")


CSV_COLUMNS = [
    "claim_set",
    "scale",
    "kind",
    "setting",
    "better",
    "worse",
    "metric",
    "direction",
    "data",
    "source",
    "paper",
    "n",
    "mean",
    "std",
    "ci95_low",
    "ci95_high",
    "delta",
    "p",
    "wilcoxon_p",
    "verdict",
]


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


def csv_rows(rep: Reproduction) -> list[list[Any]]:
    """Full-precision rows in :data:`CSV_COLUMNS` order (None where there is no value)."""
    name, scale = rep.claim_set.name, rep.scale
    out: list[list[Any]] = []
    for r in rep.claims:
        iv = r.interval
        stats = (
            [None] * 5
            if iv is None
            else [iv.n, iv.mean, _finite(iv.std), _finite(iv.low), _finite(iv.high)]
        )
        out.append(
            [
                name,
                scale,
                "claim",
                r.claim.setting,
                None,
                None,
                r.claim.metric,
                None,
                r.claim.data,
                r.claim.source,
                r.claim.value,
                *stats,
                _finite(r.delta),
                None,
                None,
                r.verdict,
            ]
        )
    for r in rep.comparisons:
        c, diff = r.comparative, r.difference
        if diff is None:
            stats, ps = [None] * 5, [None, None]
        else:
            d = diff.interval
            stats = [d.n, d.mean, _finite(d.std), _finite(d.low), _finite(d.high)]
            ps = [_finite(diff.p), _finite(diff.wilcoxon_p)]
        out.append(
            [
                name,
                scale,
                "comparison",
                None,
                c.better,
                c.worse,
                c.metric,
                c.direction,
                None,
                c.source,
                c.paper_delta,
                *stats,
                stats[1],
                *ps,
                r.verdict,
            ]
        )
    return out


def write_csv(rep: Reproduction, path: Path) -> Path:
    with files.atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in csv_rows(rep):
            writer.writerow(["" if cell is None else cell for cell in row])
    return path


def plot_forest(rep: Reproduction) -> Any:
    """One panel a metric, one row a setting: our mean and 95 % interval (blue), the paper's
    number (red diamond); a setting without runs shows the paper's number alone."""
    metrics = list(dict.fromkeys(r.claim.metric for r in rep.claims))
    if not metrics:
        raise ValueError("the claim set holds no number of the paper")
    labels = list(dict.fromkeys(r.claim.setting for r in rep.claims))
    fig = _new_figure(max(3.2 * len(metrics), 5.0), 1.2 + 0.42 * len(labels))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    ys = {label: y for label, y in zip(labels, np.arange(len(labels))[::-1], strict=True)}
    for ax, metric in zip(axes, metrics, strict=True):
        for row in (r for r in rep.claims if r.claim.metric == metric):
            y, iv = ys[row.claim.setting], row.interval
            if iv is not None:
                if math.isfinite(iv.low) and math.isfinite(iv.high):
                    ax.plot(
                        [iv.low, iv.high], [y, y], color="tab:blue", lw=2, solid_capstyle="butt"
                    )
                ax.plot([iv.mean], [y], "o", color="tab:blue", ms=5)
            ax.plot([row.claim.value], [y], "D", color="tab:red", ms=5, mfc="none", mew=1.5)
        ax.set_title(metric_label(metric), fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.9")
    axes[0].set_yticks(list(ys.values()))
    axes[0].set_yticklabels(labels, fontsize=8)
    axes[0].set_ylim(-0.7, len(labels) - 0.3)
    axes[-1].plot([], [], "o-", color="tab:blue", label="ours: mean, 95 % CI")
    axes[-1].plot([], [], "D", color="tab:red", mfc="none", label="paper")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7, frameon=False)
    title = rep.claim_set.title + (
        "  (smoke scale: not the paper's numbers)" if rep.scale == "smoke" else ""
    )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def print_table(rep: Reproduction, console: Console | None = None) -> None:
    console = console or Console(width=200)
    title = f"Reproducing {rep.claim_set.title}"
    if rep.scale == "smoke":
        console.print(SMOKE_NOTE, markup=False, highlight=False, style="bold")
    table = Table(title=title, title_justify="left")
    for name in CLAIM_HEADER:
        table.add_column(name, justify="right" if name in ("paper", "n", "Δ") else "left")
    for row in rep.claims:
        table.add_row(*(escape(c) for c in claim_cells(row)))
    console.print(table)
    if rep.comparisons:
        comp = Table(title="comparative claims", title_justify="left")
        for name in COMPARATIVE_HEADER:
            comp.add_column(
                name, justify="right" if name in ("n", "paired t p", "Wilcoxon p") else "left"
            )
        for row in rep.comparisons:
            comp.add_row(*(escape(c) for c in comparative_cells(row)))
        console.print(comp)
    for label, why in rep.not_run.items():
        console.print(f"not run: {label}: {why}", markup=False, highlight=False)


def _wandb_project(rep: Reproduction) -> str:
    for dirs in rep.run_dirs.values():
        for d in dirs:
            cfg_path = Path(d) / ".hydra" / "config.yaml"
            if cfg_path.is_file():
                value = OmegaConf.select(
                    OmegaConf.load(cfg_path), "logger.wandb.project", default=None
                )
                if value:
                    return str(value)
    return "emotion-lab"


def log_to_wandb(rep: Reproduction, out_dir: Path, mode: str) -> Path | None:
    """The two tables (and the forest plot) as a W&B run of job type ``reproduce``."""
    if mode == "disabled":
        return None
    import wandb

    slug = rep.claim_set.name.replace("/", "-")
    run = wandb.init(
        project=_wandb_project(rep),
        job_type="reproduce",
        group=f"reproduce-{slug}",
        mode=mode,  # type: ignore[arg-type]
        dir=str(out_dir),
        name=f"reproduce-{slug}-{rep.scale}",
        tags=["reproduce", rep.scale],
        config={
            "claim_set": rep.claim_set.name,
            "title": rep.claim_set.title,
            "scale": rep.scale,
            "seeds": list(rep.claim_set.seeds),
            "settings": {s.label: list(s.overrides) for s in rep.claim_set.settings},
            "not_run": rep.not_run,
        },
    )
    try:
        rows = csv_rows(rep)
        table = wandb.Table(columns=CSV_COLUMNS, data=rows)
        images = {
            f"figures/{name}": wandb.Image(str(p))
            for name, p in rep.files.items()
            if p.suffix == ".png"
        }
        run.log({"reproduce": table, **images})
        for verdict, count in rep.verdicts().items():
            run.summary[f"verdicts/{verdict}"] = count
        return Path(run.dir).parent
    finally:
        run.finish()


def write_outputs(
    rep: Reproduction, out_dir: Path, wandb_mode: str = "offline", console: Console | None = None
) -> Reproduction:
    """``reproduce.md``, ``reproduce.csv``, ``reproduce_forest.png``, the console table and W&B."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if rep.claims:
        rep.files["forest"] = save_figure(plot_forest(rep), out_dir / "reproduce_forest.png")
    rep.files["csv"] = write_csv(rep, out_dir / "reproduce.csv")
    rep.files["markdown"] = write_markdown(rep, out_dir / "reproduce.md")
    print_table(rep, console)
    wandb_dir = log_to_wandb(rep, out_dir, wandb_mode)
    where = ", ".join(str(p) for p in rep.files.values())
    (console or Console(width=200)).print(
        f"written: {where}" + (f"; W&B: {wandb_dir}" if wandb_dir else ""),
        markup=False,
        highlight=False,
    )
    return rep
