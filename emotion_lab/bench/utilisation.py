"""How busy a sweep keeps its workers, against the same schedule with zero overhead.

A sweep of ``n_jobs`` workers that run trials of known length (``sleep_app``: each trial only
sleeps, 1-10 s as the TPE sampler proposes) is timed from its first launch to its last return.
Utilisation = the trials' sleep time / (``n_jobs`` x that wall time). The bound is the same
trials, in the order the sweep ran them, each started on the first free worker the moment it
frees: what the schedule allows when start-up, scheduling and reporting cost nothing.

``python -m emotion_lab.bench.utilisation [--trials 24] [--n-jobs 4] [--cold]`` (``--cold``:
a fresh process per trial, ``hydra.launcher.warm=false``).
"""

from __future__ import annotations

import argparse
import heapq
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna

from emotion_lab.app.config import CONFIG_DIR
from hydra_plugins.emotion_lab_sweeper.contract import DEFAULT_DB_NAME

SLEEP_APP = "emotion_lab.bench.sleep_app"
STUDY = "utilisation"


def zero_overhead_makespan(durations: Sequence[float], workers: int) -> float:
    """Wall time of ``durations`` run in order, each on the first worker that is free."""
    free_at = [0.0] * max(1, workers)
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


TARGET_OF_BOUND = 0.95
"""Utilisation is judged against the zero-overhead bound of the same schedule (the last trials
leave workers idle whatever the launcher does), not against a fixed share."""


@dataclass(frozen=True)
class Utilisation:
    trials: int
    workers: int
    busy_s: float  # the trials' own work (their sleep)
    wall_s: float  # first launch -> last return
    bound_wall_s: float  # the same schedule with zero overhead
    overhead_s: float  # mean of (launch -> return) - sleep, per trial
    command_s: float  # the whole command, interpreter start and sweep set-up included

    @property
    def share(self) -> float:
        return self.busy_s / (self.workers * self.wall_s)

    @property
    def of_bound(self) -> float:
        """The share as a fraction of what this schedule allows with zero overhead."""
        return self.share / self.bound

    @property
    def bound(self) -> float:
        return self.busy_s / (self.workers * self.bound_wall_s)

    def lines(self) -> list[str]:
        return [
            f"worker utilisation: {self.share:.1%} (zero-overhead bound of the same schedule "
            f"{self.bound:.1%}; {self.of_bound:.1%} of it, target >= {TARGET_OF_BOUND:.0%})",
            f"  {self.trials} trials on {self.workers} workers: {self.busy_s:.1f} s of work in "
            f"{self.wall_s:.1f} s (bound {self.bound_wall_s:.1f} s)",
            f"  per trial beyond its work: {self.overhead_s:.2f} s; whole command "
            f"{self.command_s:.1f} s",
        ]


def read_utilisation(sweep_dir: Path, workers: int, command_s: float = 0.0) -> Utilisation:
    """Utilisation of the finished sleep-app study in ``sweep_dir``."""
    storage = f"sqlite:///{Path(sweep_dir).resolve() / DEFAULT_DB_NAME}"
    trials = [
        t
        for t in optuna.load_study(study_name=STUDY, storage=storage).trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    if not trials:
        raise ValueError(f"{sweep_dir}: no complete trial")
    trials.sort(key=lambda t: t.number)
    work = [float(t.params["sleep_s"]) for t in trials]
    starts = [float(t.user_attrs["launched_at"]) for t in trials]
    ends = [s + float(t.user_attrs["duration_s"]) for s, t in zip(starts, trials, strict=True)]
    return Utilisation(
        trials=len(trials),
        workers=workers,
        busy_s=sum(work),
        wall_s=max(ends) - min(starts),
        bound_wall_s=zero_overhead_makespan(work, workers),
        overhead_s=sum(e - s - w for s, e, w in zip(starts, ends, work, strict=True)) / len(work),
        command_s=command_s,
    )


def sweep_command(sweep_dir: Path, trials: int, n_jobs: int, warm: bool) -> list[str]:
    return [
        sys.executable,
        "-m",
        SLEEP_APP,
        "-m",
        f"hydra.searchpath=[file://{CONFIG_DIR}]",
        "hydra/sweeper=optuna",
        "hydra.sweeper.job_overrides=[]",  # the app's trial-side callbacks: nothing to sleep with
        "hydra/launcher=process",
        f"hydra.launcher.warm={str(warm).lower()}",
        "sleep_s=interval(1,10)",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.n_jobs={n_jobs}",
        f"hydra.sweeper.study_name={STUDY}",
        "hydra.sweeper.direction=minimize",
        "hydra.sweeper.seed=0",
        "hydra.sweeper.pruner=none",
        f"hydra.sweep.dir={sweep_dir}",
    ]


def run_utilisation(
    trials: int = 24, n_jobs: int = 4, warm: bool = True, keep: Path | None = None
) -> Utilisation:
    """Run the sleep sweep and measure it."""
    with tempfile.TemporaryDirectory(prefix="sweep-utilisation-") as tmp:
        sweep_dir = Path(keep) if keep else Path(tmp) / "sweep"
        start = time.perf_counter()
        proc = subprocess.run(
            sweep_command(sweep_dir, trials, n_jobs, warm), capture_output=True, text=True
        )
        command_s = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(
                f"utilisation sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )
        return read_utilisation(sweep_dir, n_jobs, command_s)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--n-jobs", type=int, default=4)
    parser.add_argument("--cold", action="store_true", help="a fresh process per trial")
    parser.add_argument("--keep", type=Path, default=None, help="sweep folder to keep")
    args = parser.parse_args(argv)
    result = run_utilisation(args.trials, args.n_jobs, not args.cold, args.keep)
    mode = "fresh process per trial" if args.cold else "warm workers"
    print(f"sweep utilisation ({SLEEP_APP}, TPE, {mode}):")
    for line in result.lines():
        print(f"  {line}")


if __name__ == "__main__":
    main()
