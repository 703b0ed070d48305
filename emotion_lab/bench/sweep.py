"""What a sweep costs beyond training: per-trial start-up and the sweep's idle share.

Every Optuna trial carries timestamps (``launched_at`` by the sweeper; ``first_step_at`` and
``fit_end_at`` by the pruning callback in the job). From them:

- launch → first training step: process start, imports, data loading, model build;
- the sweep's wall time against the sum of its trials' training time (above 1 with n_jobs > 1).

``python -m emotion_lab.bench.sweep [--trials 3] [--n-jobs 1] [overrides...]`` runs a short
sweep of ``experiment=smoke`` and prints the numbers; :func:`sweep_overhead` reads any finished
Optuna sweep folder. ``--summarize DIR...`` prints epochs run and best value per sweep folder,
to compare a study with and without pruning.

The default run also prints the sweep's worker utilisation on 24 sleep trials with 4 in flight,
next to the zero-overhead bound of the same schedule (:mod:`emotion_lab.bench.utilisation`).

``--pruning`` runs the default study (``sweeps/default.yaml``: its space, baseline and floor) on
``experiment=smoke`` data with the same seed once with ``pruner=none`` and once per pruner of
``--pruners`` (the default study's median rule and successive halving), then trains each
study's best configuration with ``repeat.seeds`` seeds: the spread of those repeats is the noise
against which the best values are compared. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml

from emotion_lab.sweep.trial_link import FIRST_STEP_ATTR, FIT_END_ATTR
from hydra_plugins.emotion_lab_sweeper.contract import DEFAULT_DB_NAME


@dataclass(frozen=True)
class Spread:
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.fmean(values), min(values), max(values))

    def __str__(self) -> str:
        return f"{self.mean:.2f} s (min {self.min:.2f}, max {self.max:.2f})"


@dataclass(frozen=True)
class OverheadReport:
    n_trials: int
    launch_to_first_step_s: Spread
    train_s: Spread
    after_fit_s: Spread  # fit end -> job returned (test, reports, W&B finish, process exit)
    train_s_total: float
    sweep_wall_s: float

    @property
    def training_share(self) -> float:
        """Sum of training time over the sweep's wall time."""
        return self.train_s_total / self.sweep_wall_s

    def lines(self) -> list[str]:
        return [
            f"trials measured:           {self.n_trials}",
            f"launch -> first step:      {self.launch_to_first_step_s}",
            f"training (fit) per trial:  {self.train_s}",
            f"fit end -> trial returned: {self.after_fit_s}",
            f"sweep wall time:           {self.sweep_wall_s:.1f} s "
            f"(sum of training {self.train_s_total:.1f} s, share {self.training_share:.0%})",
        ]


def sweep_overhead(sweep_dir: Path, study_name: str | None = None) -> OverheadReport:
    """Overheads of the finished trials of the Optuna study in ``sweep_dir``."""
    storage = f"sqlite:///{Path(sweep_dir).resolve() / DEFAULT_DB_NAME}"
    study_name = study_name or _only_study(storage, sweep_dir)
    trials = [
        t
        for t in optuna.load_study(study_name=study_name, storage=storage).trials
        if t.state.is_finished()
        and FIRST_STEP_ATTR in t.user_attrs
        and FIT_END_ATTR in t.user_attrs
    ]
    if not trials:
        raise ValueError(f"{sweep_dir}: no finished trial carries timing attributes")
    launched = [t.user_attrs["launched_at"] for t in trials]
    first = [t.user_attrs[FIRST_STEP_ATTR] for t in trials]
    fit_end = [t.user_attrs[FIT_END_ATTR] for t in trials]
    returned = [t.user_attrs["launched_at"] + t.user_attrs["duration_s"] for t in trials]
    train = [e - f for f, e in zip(first, fit_end, strict=True)]
    return OverheadReport(
        n_trials=len(trials),
        launch_to_first_step_s=Spread.of([f - s for s, f in zip(launched, first, strict=True)]),
        train_s=Spread.of(train),
        after_fit_s=Spread.of([r - e for e, r in zip(fit_end, returned, strict=True)]),
        train_s_total=sum(train),
        sweep_wall_s=max(returned) - min(launched),
    )


@dataclass(frozen=True)
class SweepSummary:
    """What pruning changes: epochs trained in total and the best value reached."""

    trials: int
    pruned: int
    epochs_run: int
    best_value: float | None
    wall_s: float

    def line(self, label: str) -> str:
        best = "-" if self.best_value is None else f"{self.best_value:.4f}"
        return (
            f"{label}: {self.trials} trials ({self.pruned} pruned), {self.epochs_run} epochs run, "
            f"best {best}, {self.wall_s / 60:.1f} min"
        )


def sweep_summary(sweep_dir: Path, study_name: str | None = None) -> SweepSummary:
    """Epochs run (reported validation results) and best value of an Optuna sweep folder."""
    storage = f"sqlite:///{Path(sweep_dir).resolve() / DEFAULT_DB_NAME}"
    study_name = study_name or _only_study(storage, sweep_dir)
    study = optuna.load_study(study_name=study_name, storage=storage)
    trials = study.trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return SweepSummary(
        trials=len(trials),
        pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in trials),
        epochs_run=sum(len(t.intermediate_values) for t in trials),
        best_value=study.best_value if done else None,
        wall_s=(max(ends) - min(starts)).total_seconds() if starts and ends else 0.0,
    )


def _only_study(storage: str, sweep_dir: Path) -> str:
    names = optuna.get_all_study_names(storage)
    if len(names) != 1:
        raise ValueError(f"{sweep_dir}: expected one study, found {names}; name one")
    return names[0]


# The pruning benchmark's data: the smoke set (1,400 images) with every train batch (smoke
# limits them to 6), in batches of 32: its curves leave chance after a few of the 20 epochs.
PRUNING_BENCH_FIXED = (
    "experiment=smoke",
    "trainer.limit_train_batches=null",
    "data.batch_size=32",
    "callbacks.progress_bar=null",
    "test.enabled=false",
)
# The default study's pruners scaled from its 4 epochs to 20: every rule first judges at the 5th
# epoch (step 4): the floor, the median rule, and the first rung of successive halving (rungs at
# steps 4 and 12, the top third kept) and of hyperband.
PRUNING_BENCH_SWEEP = (
    "hydra.sweeper.floor_grace=5",
    "hydra.sweeper.pruners.median.n_warmup_steps=4",
    "hydra.sweeper.pruners.asha.min_resource=4",
    "hydra.sweeper.pruners.hyperband.min_resource=4",
    "hydra.sweeper.pruners.hyperband.max_resource=20",
)
PRUNING_BENCH_PRUNERS = ("median", "asha")  # the default study's rule, then the asynchronous one


@dataclass(frozen=True)
class SeedSpread:
    """One configuration trained with several seeds: mean and sample std of its objective."""

    n: int
    mean: float
    std: float

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f} (n={self.n})"


@dataclass(frozen=True)
class PrunedStudy:
    """One study of the benchmark: its summary and the seed repeats of its best configuration."""

    pruner: str
    summary: SweepSummary
    repeats: SeedSpread


@dataclass(frozen=True)
class PruningBench:
    """Each pruner's study against the same study with ``pruner=none``."""

    pruned: tuple[PrunedStudy, ...]
    off: PrunedStudy
    trials: int
    epochs: int

    def epochs_ratio(self, study: PrunedStudy) -> float:
        return study.summary.epochs_run / self.off.summary.epochs_run

    def noise(self, study: PrunedStudy) -> float:
        """The larger seed std of the two best configurations compared."""
        return max(study.repeats.std, self.off.repeats.std)

    def best_gap(self, study: PrunedStudy) -> float:
        on, off = study.summary.best_value, self.off.summary.best_value
        assert on is not None and off is not None
        return on - off

    def lines(self) -> list[str]:
        lines = [
            self.off.summary.line("pruner=none"),
            f"  best, seeds repeated: {self.off.repeats}",
        ]
        for study in self.pruned:
            gap, noise = self.best_gap(study), self.noise(study)
            within = "within" if abs(gap) <= 2 * noise else "NOT within"
            lines += [
                study.summary.line(f"pruner={study.pruner}"),
                f"  best, seeds repeated: {study.repeats}",
                f"  epochs: {self.epochs_ratio(study):.0%} of pruner=none's "
                f"({study.summary.epochs_run} / {self.off.summary.epochs_run}; target <= 50%)",
                f"  best - best of pruner=none = {gap:+.4f}; noise (larger seed std) "
                f"{noise:.4f}: {within} 2 std",
            ]
        return lines


def _sweep(command: Sequence[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(command), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def _repeat(overrides: Sequence[str], seeds: int, run_dir: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "emotion_lab.train",
        *overrides,
        f"repeat.seeds={seeds}",
        f"hydra.run.dir={run_dir}",
    ]
    # stderr into a file beside the run, not a pipe: a pipe that is not read while the other
    # repeat is awaited fills up and stalls its training
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with run_dir.with_name(f"{run_dir.name}.stderr").open("w") as err:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, text=True)


def _seed_spread(run_dir: Path) -> SeedSpread:
    with (run_dir / "summary.csv").open() as fh:
        row = next(r for r in csv.DictReader(fh) if r["metric"] == "objective")
    return SeedSpread(int(row["n"]), float(row["mean"]), float(row["std"]))


def run_pruning_bench(
    trials: int = 16,
    epochs: int = 20,
    seeds: int = 3,
    n_jobs: int = 2,
    overrides: Sequence[str] = (),
    keep: Path | None = None,
    pruners: Sequence[str] = PRUNING_BENCH_PRUNERS,
) -> PruningBench:
    """The default study on smoke data once per pruner and once without, then seed repeats of
    each study's best configuration (two at a time; one run for studies that share a best)."""
    if not Path("sweeps/default.yaml").is_file():
        raise ValueError("--pruning: run from the repository root (needs sweeps/default.yaml)")
    if not pruners or "none" in pruners:
        raise ValueError(f"--pruners: name the pruners to compare with 'none', got {pruners}")
    fixed = [*PRUNING_BENCH_FIXED, f"trainer.max_epochs={epochs}", *overrides]
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        root = Path(keep) if keep else Path(tmp)
        base = [sys.executable, "-m", "emotion_lab.train", "-m", "--config-dir", "sweeps"]
        base += ["--config-name", "default", *fixed, *PRUNING_BENCH_SWEEP]
        base += [f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.n_jobs={n_jobs}"]
        summaries: dict[str, SweepSummary] = {}
        bests: dict[str, tuple[str, ...]] = {}
        for pruner in ("none", *pruners):
            folder = root / f"pruner_{pruner}"
            _sweep(
                [
                    *base,
                    f"hydra.sweeper.pruner={pruner}",
                    f"hydra.sweeper.study_name=bench_{pruner}",
                    f"hydra.sweep.dir={folder}",
                ]
            )
            summaries[pruner] = sweep_summary(folder)
            bests[pruner] = tuple(yaml.safe_load((folder / "best.yaml").read_text())["overrides"])
        spreads = _repeat_bests(bests, fixed, seeds, root)
    studies = {p: PrunedStudy(p, summaries[p], spreads[bests[p]]) for p in summaries}
    return PruningBench(
        pruned=tuple(studies[p] for p in pruners),
        off=studies["none"],
        trials=trials,
        epochs=epochs,
    )


def _repeat_bests(
    bests: dict[str, tuple[str, ...]], fixed: Sequence[str], seeds: int, root: Path
) -> dict[tuple[str, ...], SeedSpread]:
    distinct = list(dict.fromkeys(bests.values()))
    spreads: dict[tuple[str, ...], SeedSpread] = {}
    for first in range(0, len(distinct), 2):  # two trainings at a time, one per core
        run_dirs = {
            best: root / f"repeats_{i}"
            for i, best in enumerate(distinct[first : first + 2], start=first)
        }
        jobs = {
            best: _repeat([*fixed, *best], seeds, run_dir) for best, run_dir in run_dirs.items()
        }
        for job in jobs.values():  # both finish before either is judged: none left running
            job.wait()
        for best, job in jobs.items():
            if job.returncode != 0:
                err = run_dirs[best].with_name(f"{run_dirs[best].name}.stderr").read_text()
                raise RuntimeError(f"seed repeats of {' '.join(best)} failed:\n{err[-2000:]}")
            spreads[best] = _seed_spread(run_dirs[best])
    return spreads


def run_bench(
    trials: int = 3, n_jobs: int = 1, overrides: Sequence[str] = (), keep: Path | None = None
) -> tuple[OverheadReport, float]:
    """Run a short ``experiment=smoke`` sweep; returns its report and the command's wall time."""
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        sweep_dir = Path(keep) if keep else Path(tmp) / "sweep"
        command = [
            sys.executable,
            "-m",
            "emotion_lab.train",
            "-m",
            "hydra/sweeper=optuna",
            "experiment=smoke",
            "optimizer.lr=tag(log,interval(1e-4,1e-2))",
            f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.n_jobs={n_jobs}",
            "hydra.sweeper.pruner=none",
            f"hydra.sweep.dir={sweep_dir}",
            "callbacks.progress_bar=null",
            *overrides,
        ]
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"bench sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return sweep_overhead(sweep_dir), wall


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=None, help="3 (--pruning: 16)")
    parser.add_argument("--n-jobs", type=int, default=None, help="1 (--pruning: 2)")
    parser.add_argument("--keep", type=Path, default=None, help="sweep folder to keep")
    parser.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        default=None,
        help="only summarise finished Optuna sweep folders (e.g. with and without pruning)",
    )
    parser.add_argument(
        "--pruning",
        action="store_true",
        help="the default study with each pruner and without (--trials 16 --epochs 20 --seeds 3)",
    )
    parser.add_argument("--epochs", type=int, default=20, help="--pruning: epochs per trial")
    parser.add_argument("--seeds", type=int, default=3, help="--pruning: seeds per best trial")
    parser.add_argument(
        "--pruners",
        nargs="+",
        default=list(PRUNING_BENCH_PRUNERS),
        help="--pruning: the pruners (keys of hydra.sweeper.pruners) each compared with none",
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args(argv)
    if args.pruning:
        trials, n_jobs = args.trials or 16, args.n_jobs or 2
        bench = run_pruning_bench(
            trials, args.epochs, args.seeds, n_jobs, args.overrides, args.keep, args.pruners
        )
        print(
            f"pruning benchmark (sweeps/default.yaml on experiment=smoke with all its train "
            f"batches, {bench.trials} trials x {bench.epochs} epochs, n_jobs={n_jobs}):"
        )
        for line in bench.lines():
            print(f"  {line}")
        return
    if args.summarize:
        for folder in args.summarize:
            print(sweep_summary(folder).line(str(folder)))
        return
    n_jobs = args.n_jobs or 1
    report, wall = run_bench(args.trials or 3, n_jobs, args.overrides, args.keep)
    print(f"sweep overhead (experiment=smoke, n_jobs={n_jobs}):")
    for line in report.lines():
        print(f"  {line}")
    print(f"  whole command (incl. interpreter start): {wall:.1f} s")
    from emotion_lab.bench.utilisation import SLEEP_APP, run_utilisation

    print(f"sweep utilisation ({SLEEP_APP}: 24 trials sleeping 1-10 s, TPE, n_jobs=4):")
    for line in run_utilisation().lines():
        print(f"  {line}")


if __name__ == "__main__":
    main()
