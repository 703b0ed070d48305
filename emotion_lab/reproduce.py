"""``python -m emotion_lab.reproduce claims=<paper>/<table>`` (or ``emotion-lab-reproduce``): train
the runs that test one table or study of a paper and end with the paper's numbers against ours.

A claim set (``conf/claims/<paper>/<table>.yaml``, format in :mod:`emotion_lab.comparison.claims`)
names the paper's numbers and the settings that test them. The command

1. plans: every setting composed as its runs will be (experiment, overrides, scale), its seeds,
   epochs, cross-validation folds, the seeds already finished, the time it expects (from a
   measured epoch of this claim set's runs, else unknown) and the data sets not in place (each
   named with where it goes; settings whose data are missing are left out);
2. trains: per setting one ``python -m emotion_lab.train -m experiment=<e> <overrides>
   seed=<s1>,<s2>,… hydra.sweep.dir=<out>/<setting>`` (each seed in ``seed_<s>/``), through the
   launcher given by ``launcher=[...]``. Running the command again resumes: a seed whose run
   folder has its test records is read back, only the missing seeds are trained;
3. ends with one table: per number of the paper ours as mean ± 95 % CI over seeds, Δ and a
   verdict (reproduced, higher, lower), per comparative claim the paired test over seeds and
   holds / within noise / reversed; written to ``reproduce.md``, ``reproduce.csv``,
   ``reproduce_forest.png`` and a W&B run of job type ``reproduce``.

    python -m emotion_lab.reproduce claims=s000/table3 plan_only=true
    python -m emotion_lab.reproduce claims=s001/table5 scale=smoke      # the machinery, in minutes
    python -m emotion_lab.reproduce claims=s004/ablation seeds=5 'launcher=["hydra/launcher=process"]'
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.errors import HydraException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from emotion_lab.app.config import CONFIG_DIR, compose_config, register_resolvers
from emotion_lab.app.entry import one_line, one_line_errors, run_app
from emotion_lab.comparison import claims as claims_lib
from emotion_lab.comparison.claims import ClaimSet, Reproduction, Setting
from emotion_lab.data.errors import DatasetNotFoundError
from emotion_lab.errors import ConfigError, UserError, instantiation_cause
from emotion_lab.files import write_json
from emotion_lab.run.records import METRICS_FILE

register_resolvers()

CLAIMS_DIR = CONFIG_DIR / "claims"
SETTING_FILE = "setting.json"
INTERRUPTED_DIR = "interrupted"
# Runner: runs one training command, returns its exit code.
Runner = Callable[[Sequence[str]], int]


def known_claim_sets(root: Path = CLAIMS_DIR) -> list[str]:
    """``<paper>/<name>`` of every claim set under ``conf/claims``."""
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))


def claims_choice(overrides: Sequence[str]) -> str:
    """The ``claims=`` of the command line, checked against the known claim sets."""
    known = known_claim_sets()
    chosen = [o.partition("=")[2] for o in overrides if o.partition("=")[0] == "claims"]
    if not chosen or not chosen[-1]:
        raise ConfigError(
            f"claims=<paper>/<table> is required; known claim sets: {', '.join(known)}"
        )
    if chosen[-1] not in known:
        raise ConfigError(
            f"claims={chosen[-1]}: no such claim set; known claim sets: {', '.join(known)}"
        )
    return chosen[-1]


# --------------------------------------------------------------------------- the plan


@dataclass
class PlannedSetting:
    """One setting as it will run: its train overrides, seeds, epochs and what is in place."""

    setting: Setting
    overrides: tuple[str, ...]  # after experiment=: the setting's, the user's, the scale's
    folder: Path
    seeds: tuple[int, ...]
    scale: str = "full"
    done: tuple[int, ...] = ()
    folds: int | None = None
    epochs: int | None = None
    data: str = ""
    data_missing: str | None = None
    epoch_s: float | None = None  # a measured epoch
    seed_s: float | None = None  # a measured finished seed (all its folds), start to end
    epoch_source: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.setting.label

    @property
    def experiment(self) -> str:
        return self.setting.experiment

    @property
    def todo(self) -> tuple[int, ...]:
        return tuple(s for s in self.seeds if s not in self.done)

    @property
    def runs_per_seed(self) -> int:
        return self.folds or 1

    @property
    def expected_s(self) -> float | None:
        """Seconds the missing seeds take one after another (epochs only when no whole run
        was measured: start-up and testing come on top)."""
        if self.seed_s is not None:
            return self.seed_s * len(self.todo)
        if self.epoch_s is None or self.epochs is None:
            return None
        return self.epoch_s * self.epochs * self.runs_per_seed * len(self.todo)

    def record(self) -> dict[str, Any]:
        """What ``setting.json`` keeps: a resumed folder must hold runs of the same setting (the
        user's extra overrides, paths or hardware, may change between sessions)."""
        return {
            "experiment": self.experiment,
            "overrides": list(self.setting.overrides),
            "scale": self.scale,
        }


@dataclass
class Plan:
    claim_set: ClaimSet
    scale: str
    out_dir: Path
    settings: list[PlannedSetting]
    launcher: tuple[str, ...] = ()
    python: str = sys.executable

    @property
    def runnable(self) -> list[PlannedSetting]:
        return [p for p in self.settings if p.data_missing is None]

    @property
    def missing(self) -> list[PlannedSetting]:
        return [p for p in self.settings if p.data_missing is not None]


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def dedupe(overrides: Sequence[str]) -> list[str]:
    """Each key once, its last value (later overrides win, as Hydra would apply them)."""
    last = {_key(o): i for i, o in enumerate(overrides)}
    return [o for i, o in enumerate(overrides) if last[_key(o)] == i]


def _list(node: Any, key: str) -> list[str]:
    if node is None:
        return []
    if isinstance(node, ListConfig):
        node = OmegaConf.to_container(node, resolve=True)
    if isinstance(node, str) or not isinstance(node, list):
        raise ConfigError(f'{key} must be a list, e.g. {key}=["a=1","b=2"]; got {node!r}')
    return [str(o) for o in node]


def _compose_train(overrides: Sequence[str], where: str) -> DictConfig:
    try:
        return compose_config("train", list(overrides), output_dir="outputs/reproduce/composed")
    except HydraException as exc:
        parts = [str(exc)] + ([str(exc.__cause__).split("\n")[0]] if exc.__cause__ else [])
        raise ConfigError(f"{where}: " + " ".join(" ".join(parts).split())) from None


def smoke_overrides(cfg: DictConfig, smoke: DictConfig) -> list[str]:
    """What shrinks a composed run further where the model and data allow (scale=smoke)."""
    extra = []
    size = int(smoke.input_size)
    if int(cfg.model.get("input_size") or 0) > size:
        extra.append(f"model.input_size={size}")
    if cfg.model.get("pretrained"):
        extra.append("model.pretrained=false")
    if cfg.data.get("decode_size") is not None:
        extra.append("data.decode_size=null")
    folds = OmegaConf.select(cfg, "cv.folds")
    if folds is not None and int(folds) > int(smoke.folds):
        extra.append(f"cv.folds={int(smoke.folds)}")
    return extra


def data_problem(cfg: DictConfig) -> str | None:
    """The one-line DatasetNotFoundError of the run's data set (where to put it), or None."""
    try:
        augmentation = instantiate(cfg.augmentation) if cfg.get("augmentation") else None
        instantiate(cfg.data, augmentation=augmentation)
    except Exception as exc:
        cause = instantiation_cause(exc)
        if isinstance(cause, DatasetNotFoundError):
            return one_line(cause).removeprefix("error: ")
        raise
    return None


def first_epoch_seconds(folders: Sequence[Path]) -> list[float]:
    """``time/epoch_s`` of the first epoch of every run logged under ``folders``."""
    found = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for metrics in sorted(folder.rglob("csv/metrics.csv")):
            rows = claims_lib.logged_rows(metrics.parent.parent)
            first = [r["time/epoch_s"] for r in rows if "time/epoch_s" in r]
            if first and math.isfinite(first[0]) and first[0] > 0:
                found.append(first[0])
    return found


def _done_seeds(folder: Path, seeds: Sequence[int], folds: int | None) -> tuple[int, ...]:
    return tuple(
        s for s in seeds if claims_lib.finished_runs(claims_lib.seed_folder(folder, s), folds)
    )


def make_plan(cfg: DictConfig, claim_set: ClaimSet | None = None) -> Plan:
    """Every setting composed as it will run, with its data check, seeds done and timing."""
    claim_set = claim_set or claims_lib.claim_set_from_config(cfg.claims)
    if cfg.get("seeds") is not None:
        claim_set = claim_set.with_seeds(claims_lib.parse_seeds(cfg.seeds, "seeds"))
    only = _list(cfg.get("only"), "only")
    if only:
        claim_set = claim_set.only(only)
    if cfg.wandb_mode not in ("offline", "online", "disabled"):
        raise ConfigError(f"wandb_mode must be offline, online or disabled, got {cfg.wandb_mode!r}")
    scale = str(cfg.scale)
    if scale not in claims_lib.SCALES:
        raise ConfigError(f"scale must be one of {', '.join(claims_lib.SCALES)}, got {scale!r}")
    out_dir = Path(str(cfg.out_dir)).absolute()
    user = _list(cfg.get("overrides"), "overrides")
    for text in user:
        if _key(text) in ("experiment", "seed") or _key(text).startswith(("hydra.", "hydra/")):
            raise ConfigError(
                f"overrides: {text!r} is not a train override for every run (seeds: seeds=; "
                "launching: launcher=[...])"
            )
    # where the data sets are: reproduce's own paths.data_dir (EMOTION_LAB_DATA, or data/) for
    # every run, unless the user's overrides name another
    user = [f"paths.data_dir={cfg.paths.data_dir}", *user]
    smoke = list(cfg.smoke.overrides) if scale == "smoke" else []
    checked: dict[str, str | None] = {}
    planned = []
    for setting in claim_set.settings:
        where = f"claim set {claim_set.name}, setting {setting.label}"
        overrides = [*setting.overrides, *user, *smoke]
        train = _compose_train([f"experiment={setting.experiment}", *overrides], where)
        if scale == "smoke":
            overrides += smoke_overrides(train, cfg.smoke)
            train = _compose_train([f"experiment={setting.experiment}", *overrides], where)
        overrides = dedupe(overrides)
        folds = OmegaConf.select(train, "cv.folds")
        folder = out_dir / setting.label
        p = PlannedSetting(
            setting=setting,
            overrides=tuple(overrides),
            folder=folder,
            scale=scale,
            seeds=claim_set.seeds,
            folds=None if folds is None else int(folds),
            epochs=int(train.trainer.max_epochs) if train.trainer.get("max_epochs") else None,
            data=str(train.data.name),
        )
        if scale == "full" and setting.data is not None and p.data != setting.data:
            raise ConfigError(
                f"{where}: the paper's numbers are on {setting.data}, but the run trains on "
                f"{p.data} (data={p.data}); fix the claim set or its overrides"
            )
        root = str(train.data.get("root"))
        if root not in checked:
            checked[root] = data_problem(train)
        p.data_missing = checked[root]
        check_folder(p)
        p.done = _done_seeds(folder, p.seeds, p.folds)
        if train.model.get("pretrained") and not train.model.get("checkpoint_path"):
            p.notes.append(
                "starts from ImageNet weights from timm's hub (network needed; offline: "
                "overrides=[model.checkpoint_path=<file>])"
            )
        planned.append(p)
    _estimate(planned)
    launcher = tuple(_list(cfg.get("launcher"), "launcher"))
    python = str(cfg.python) if cfg.get("python") else sys.executable
    return Plan(claim_set, scale, out_dir, planned, launcher, python)


def run_seconds(folder: Path) -> list[float]:
    """Wall time of each finished seed under a setting's folder: from its job's start (Hydra's
    ``.hydra/config.yaml``) to its last test record (every fold's, with cross-validation)."""
    found = []
    for seed_dir in sorted(folder.glob("seed_*")):
        start = seed_dir / ".hydra" / "config.yaml"
        records = sorted(seed_dir.rglob(METRICS_FILE))
        if start.is_file() and records:
            seconds = max(r.stat().st_mtime for r in records) - start.stat().st_mtime
            if seconds > 0:
                found.append(seconds)
    return found


def _estimate(planned: Sequence[PlannedSetting]) -> None:
    """How long a setting's missing seeds take: the median wall time of its finished seeds;
    else its epochs × the median first epoch (``time/epoch_s``) measured in its folder (an
    interrupted run's included), or in the folders of this claim set's settings with the same
    experiment; unknown otherwise."""
    for p in planned:
        whole = run_seconds(p.folder)
        if whole:
            p.seed_s = statistics.median(whole)
            p.epoch_source = f"{_duration(p.seed_s)} a seed, measured"
            continue
        own = first_epoch_seconds([p.folder])
        if own:
            p.epoch_s, p.epoch_source = statistics.median(own), "first epoch of its runs"
            continue
        same = [q.folder for q in planned if q.experiment == p.experiment and q is not p]
        others = first_epoch_seconds(same)
        if others:
            p.epoch_s = statistics.median(others)
            p.epoch_source = f"first epoch of {p.experiment}'s runs"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def print_plan(plan: Plan, console: Console | None = None) -> None:
    console = console or Console(width=200)
    cs = plan.claim_set
    table = Table(
        title=f"Plan: {cs.name}, {cs.title} (scale {plan.scale})",
        title_justify="left",
    )
    for name in (
        "setting",
        "experiment",
        "overrides",
        "seeds",
        "runs to train",
        "epochs each",
        "expected",
        "data",
    ):
        table.add_column(
            name, justify="right" if name in ("runs to train", "epochs each") else "left"
        )
    for p in plan.settings:
        seeds = ", ".join(map(str, p.seeds))
        done = f" ({len(p.done)} finished)" if p.done else ""
        runs = len(p.todo) * p.runs_per_seed
        folds = f" ({len(p.todo)} seeds × {p.folds} folds)" if p.folds and runs else ""
        runs_text = f"{runs}{folds}"
        if p.data_missing is not None:
            expected = "– (no data)"
        else:
            expected = _duration(p.expected_s) if runs else "0 s"
            if p.seed_s is not None and runs:
                expected += f" ({p.epoch_source})"
            elif p.epoch_s is not None and runs:
                expected += f" ({p.epoch_s:.1f} s/epoch, {p.epoch_source})"
        cells = [
            p.label,
            p.experiment,
            " ".join(p.setting.overrides) or "–",
            seeds + done,
            runs_text,
            "–" if p.epochs is None else f"≤ {p.epochs}",
            expected,
            p.data + (" (missing)" if p.data_missing else ""),
        ]
        table.add_row(*(escape(c) for c in cells))
    console.print(table)
    runnable = plan.runnable
    todo = sum(len(p.todo) * p.runs_per_seed for p in runnable)
    reused = sum(len(p.done) * p.runs_per_seed for p in runnable)
    left_out = sum(len(p.todo) * p.runs_per_seed for p in plan.missing)
    epochs = sum(len(p.todo) * p.runs_per_seed * (p.epochs or 0) for p in runnable)
    times = [p.expected_s for p in runnable if p.todo]
    if not runnable:
        total = "nothing can run: no setting has its data set in place"
    elif not times:
        total = "nothing to train, every run is finished"
    elif all(t is not None for t in times):
        total = f"≈ {_duration(sum(t for t in times if t is not None))} run one after another"
    else:
        unknown = [p.label for p in runnable if p.todo and p.expected_s is None]
        total = (
            f"unknown: no epoch measured yet for {', '.join(unknown)} (a first finished epoch "
            "of a setting's run, time/epoch_s, gives the estimate on the next plan)"
        )
    say = _plain(console)
    dropped = f", {left_out} left out (data set not in place)" if left_out else ""
    say(
        f"{todo} runs to train, {epochs} epochs at most ({reused} finished runs reused{dropped}); "
        f"expected time: {total}."
    )
    if plan.launcher:
        say(f"launcher: {' '.join(plan.launcher)}")
    say(f"out: {plan.out_dir}")
    notes: dict[str, list[str]] = {}
    for p in plan.settings:
        for note in p.notes:
            notes.setdefault(note, []).append(p.label)
    for note, labels in notes.items():
        say(f"note: {', '.join(labels)}: {note}")
    missing: dict[str, list[PlannedSetting]] = {}
    for p in plan.missing:
        missing.setdefault(p.data, []).append(p)
    for data, settings in missing.items():
        labels = ", ".join(p.label for p in settings)
        say(f"data set not in place: {data} (left out: {labels}): {settings[0].data_missing}")
    if plan.scale == "smoke":
        say(claims_lib.SMOKE_NOTE)


def _plain(console: Console) -> Callable[[str], None]:
    """Print text as it is: no markup (overrides hold brackets), no highlighting."""
    return lambda text: console.print(text, markup=False, highlight=False)


# --------------------------------------------------------------------------- training


def train_command(plan: Plan, p: PlannedSetting, seeds: Sequence[int]) -> list[str]:
    """The training multirun of one setting's missing seeds."""
    return [
        plan.python,
        "-m",
        "emotion_lab.train",
        "-m",
        f"experiment={p.experiment}",
        *p.overrides,
        "seed=" + ",".join(str(s) for s in seeds),
        f"hydra.sweep.dir={p.folder}",
        "hydra.sweep.subdir=seed_${seed}",
        # reproduce makes its own table; the per-setting comparison of seeds would be noise
        "hydra.callbacks.compare.enabled=false",
        *plan.launcher,
    ]


def subprocess_runner(command: Sequence[str]) -> int:
    print("$ " + " ".join(command), flush=True)
    return subprocess.run(list(command), check=False).returncode


def check_folder(p: PlannedSetting) -> None:
    """A setting's folder made by another setting (other experiment, overrides or scale) is
    refused by name: its runs must not be read back as this setting's."""
    path = p.folder / SETTING_FILE
    if not path.is_file():
        return
    before = json.loads(path.read_text())
    if before != p.record():
        raise ConfigError(
            f"{p.folder}: its runs are of experiment={before.get('experiment')} "
            f"{' '.join(before.get('overrides', []))} (scale {before.get('scale')}), not of "
            f"experiment={p.experiment} {' '.join(p.setting.overrides)} (scale {p.scale}); "
            "choose another out_dir= or remove the folder"
        )


def claim_folder(p: PlannedSetting) -> None:
    """Mark the folder as this setting's runs (``setting.json``)."""
    check_folder(p)
    p.folder.mkdir(parents=True, exist_ok=True)
    if not (p.folder / SETTING_FILE).is_file():
        write_json(p.folder / SETTING_FILE, p.record())


def set_aside(p: PlannedSetting, seed: int) -> Path | None:
    """An interrupted seed's folder (no test records) moves to ``interrupted/`` so that its
    seed starts in a clean folder; its logged epochs still time the next plan."""
    folder = claims_lib.seed_folder(p.folder, seed)
    if not folder.exists():
        return None
    target_dir = p.folder / INTERRUPTED_DIR
    target_dir.mkdir(exist_ok=True)
    n = 1
    while (target_dir / f"{folder.name}-{n}").exists():
        n += 1
    target = target_dir / f"{folder.name}-{n}"
    shutil.move(str(folder), str(target))
    return target


def train(plan: Plan, runner: Runner = subprocess_runner) -> dict[str, str]:
    """Train every missing seed of every setting whose data are in place; returns the settings
    whose training command failed, with why."""
    failed: dict[str, str] = {}
    for p in plan.runnable:
        todo = p.todo
        if not todo:
            continue
        claim_folder(p)
        for seed in todo:
            set_aside(p, seed)
        code = runner(train_command(plan, p, todo))
        if code != 0:
            failed[p.label] = f"the training command exited with code {code} (its output above)"
        p.done = _done_seeds(p.folder, p.seeds, p.folds)
    return failed


# --------------------------------------------------------------------------- the table


def collect(plan: Plan, failed: dict[str, str] | None = None) -> Reproduction:
    """The table from the finished runs on disk."""
    results: dict[str, dict[int, dict[str, float]]] = {}
    run_dirs: dict[str, list[Path]] = {}
    not_run: dict[str, str] = {}
    for p in plan.settings:
        if p.data_missing is not None:
            not_run[p.label] = f"data set {p.data} not in place: {p.data_missing}"
            continue
        metrics = plan.claim_set.metrics_of(p.label)
        per_seed: dict[int, dict[str, float]] = {}
        dirs: list[Path] = []
        for seed in p.seeds:
            folder = claims_lib.seed_folder(p.folder, seed)
            runs = claims_lib.finished_runs(folder, p.folds)
            if runs is None:
                continue
            per_seed[seed] = claims_lib.seed_values(runs, metrics)
            dirs.append(folder)
        results[p.label] = per_seed
        run_dirs[p.label] = dirs
        missing = [s for s in p.seeds if s not in per_seed]
        if failed and p.label in failed:
            not_run[p.label] = failed[p.label]
        elif missing:
            not_run[p.label] = f"seeds {', '.join(map(str, missing))} have no finished run"
    ran_on = {p.label: p.data for p in plan.settings}
    return claims_lib.evaluate(plan.claim_set, results, plan.scale, not_run, run_dirs, ran_on)


# --------------------------------------------------------------------------- the command


def compose_reproduce(overrides: Sequence[str]) -> DictConfig:
    claims_choice(overrides)
    try:
        return compose_config("reproduce", list(overrides))
    except HydraException as exc:
        parts = [str(exc)] + ([str(exc.__cause__).split("\n")[0]] if exc.__cause__ else [])
        raise ConfigError(" ".join(" ".join(parts).split())) from None


def reproduce(
    cfg: DictConfig, runner: Runner = subprocess_runner, console: Console | None = None
) -> Reproduction | Plan:
    """Plan, print the plan, train what is missing, and write the table."""
    plan = make_plan(cfg)
    print_plan(plan, console)
    if cfg.plan_only:
        return plan
    if not plan.runnable:
        raise UserError(
            f"claim set {plan.claim_set.name}: no setting has its data set in place (see above)"
        )
    failed = train(plan, runner)
    rep = collect(plan, failed)
    claims_lib.write_outputs(rep, plan.out_dir, str(cfg.wandb_mode), console)
    if failed:
        raise UserError(
            "training failed for "
            + "; ".join(f"{k}: {v}" for k, v in failed.items())
            + f"; the table holds the runs that finished ({plan.out_dir / 'reproduce.md'})"
        )
    return rep


def _help() -> str:
    head = (__doc__ or "").strip()
    return (
        f"{head}\n\nclaim sets: {', '.join(known_claim_sets())}\n\n"
        f"keys (conf/reproduce.yaml):\n{(CONFIG_DIR / 'reproduce.yaml').read_text()}"
    )


@one_line_errors
def main(argv: Sequence[str] | None = None) -> Reproduction | Plan | None:
    overrides = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in overrides):
        print(_help())
        return None
    flags = [a for a in overrides if a.startswith("-")]
    if flags:
        raise ConfigError(f"{flags[0]}: reproduce takes key=value overrides only (see --help)")
    return reproduce(compose_reproduce(overrides))


@one_line_errors
def _check_claims() -> None:
    """An unknown claim set is one line listing the known ones, before Hydra composes."""
    args = sys.argv[1:]
    if not any(a in ("-h", "--help") for a in args):
        claims_choice(args)


if __name__ == "__main__":
    _check_claims()
    run_app(main, "reproduce")
