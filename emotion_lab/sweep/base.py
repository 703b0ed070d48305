"""What the Optuna and Hyperopt sweepers share: config checks, the launcher, per-trial overrides,
the failure budget, reports, and a cross-process lock on the sweep folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from emotion_lab.sweep.entry import config_location_args, python_command
from emotion_lab.sweep.jobs import make_launcher
from emotion_lab.sweep.report import FAIL, TrialRecord, format_leaderboard, write_reports
from emotion_lab.sweep.space import SearchSpace, parse_search_space, quote

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")


class SweepAborted(RuntimeError):
    """The sweep stopped early on purpose (too many failures); the message says why."""


class SweeperBase(Sweeper):
    """Common configuration and plumbing; subclasses implement :meth:`sweep`."""

    kind: ClassVar[str] = "base"

    def __init__(
        self,
        *,
        params: Mapping[str, Any] | None = None,
        n_trials: int = 20,
        direction: str = "maximize",
        seed: int | None = None,
        study_name: str | None = None,
        storage: str | None = None,
        n_jobs: int = 1,
        max_failure_rate: float = 0.5,
        sampler: str = "tpe",
        sampler_kwargs: Mapping[str, Any] | None = None,
        pruner: str = "none",
        pruner_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.params = _plain(params) or {}
        self.n_trials = _positive_int("n_trials", n_trials)
        self.n_jobs = _positive_int("n_jobs", n_jobs)
        direction = str(direction).lower()
        if direction not in DIRECTIONS:
            raise ValueError(f"hydra.sweeper.direction: '{direction}' is not one of {DIRECTIONS}")
        self.direction = direction
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"hydra.sweeper.seed: expected an integer or null, got {seed!r}")
        self.seed = seed
        self.study_name = None if study_name in (None, "") else str(study_name)
        self.storage = storage
        rate = float(max_failure_rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"hydra.sweeper.max_failure_rate must be in [0, 1], got {rate}")
        self.max_failure_rate = rate
        self.sampler = str(sampler)
        self.sampler_kwargs = _plain(sampler_kwargs) or {}
        self.pruner = str(pruner)
        self.pruner_kwargs = _plain(pruner_kwargs) or {}
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Launcher | None = None
        self._stop_reason: str | None = None
        self._stop_lock = threading.Lock()

    # -- Hydra plumbing -------------------------------------------------------------------
    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = make_launcher(
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
            n_jobs=self.n_jobs,
        )

    @property
    def sweep_dir(self) -> Path:
        assert self.config is not None
        return Path(str(self.config.hydra.sweep.dir)).absolute()

    @property
    def base_dir(self) -> Path:
        assert self.config is not None
        return Path(str(self.config.hydra.runtime.cwd))

    @property
    def resolved_study_name(self) -> str:
        assert self.config is not None
        return self.study_name or str(self.config.hydra.job.name)

    def parse_space(self, arguments: Sequence[str]) -> SearchSpace:
        assert self.hydra_context is not None
        space = parse_search_space(self.params, arguments, self.hydra_context.config_loader)
        if not space.dimensions:
            raise ValueError(
                "nothing to search: set hydra.sweeper.params or give sweep overrides such as "
                "'optimizer.lr=tag(log,interval(1e-4,1e-1))'"
            )
        return space

    def prepare_sweep_dir(self) -> None:
        assert self.config is not None
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")

    def trial_overrides(
        self, space: SearchSpace, params: Mapping[str, Any], number: int, storage_url: str | None
    ) -> list[str]:
        """The trial's parameters plus the ``trial.*`` keys train.py uses for W&B and pruning."""
        storage = "null" if storage_url is None else quote(storage_url)
        return [
            *space.overrides(params),
            f"hydra.sweeper.study_name={quote(self.resolved_study_name)}",
            f"++trial.number={number}",
            f"++trial.study_name={quote(self.resolved_study_name)}",
            f"++trial.storage={storage}",
            f"++trial.sweeper={self.kind}",
        ]

    def rerun_command(self) -> list[str]:
        """Command prefix that re-runs one trial as a plain (non-sweep) run."""
        assert self.config is not None
        location = config_location_args(self.config.hydra, relative=True)
        return [*python_command(python="python"), *location]

    # -- failure budget ------------------------------------------------------------------
    def check_failures(self, records: Sequence[TrialRecord]) -> None:
        """Ask the workers to stop once the failed share of finished trials is too high."""
        finished = [r for r in records if r.state in ("COMPLETE", "PRUNED", FAIL)]
        failed = sum(r.state == FAIL for r in finished)
        if not finished or failed / len(finished) <= self.max_failure_rate:
            return
        with self._stop_lock:
            if self._stop_reason is None:
                self._stop_reason = (
                    f"sweep stopped: {failed} of {len(finished)} finished trials failed "
                    f"({failed / len(finished):.0%}), more than "
                    f"hydra.sweeper.max_failure_rate={self.max_failure_rate:g}"
                )
                log.error(self._stop_reason)

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    def finish(self, records: Sequence[TrialRecord]) -> None:
        """Final reports, console leaderboard, and the abort error if the budget ran out."""
        self.write_reports(records, plot=True)
        print(format_leaderboard(records, self.direction), flush=True)
        print(f"sweep folder: {self.sweep_dir}", flush=True)
        if self._stop_reason is not None:
            raise SweepAborted(self._stop_reason)

    def write_reports(self, records: Sequence[TrialRecord], plot: bool = False) -> None:
        write_reports(
            self.sweep_dir,
            records,
            direction=self.direction,
            study_name=self.resolved_study_name,
            sweeper=self.kind,
            rerun_command=self.rerun_command(),
            plot=plot,
        )

    @staticmethod
    def log_failure(number: int, error: str, traceback_text: str | None) -> None:
        log.warning(f"trial {number} failed: {error}")
        if traceback_text:
            log.warning(traceback_text.rstrip())


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Exclusive advisory lock shared by every process that opens ``path``; yields success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def seed_for(seed: int | None, n_existing: int) -> int | None:
    """Seed of the sampler that proposes trial ``n_existing``, mixed from (seed, n_existing).

    Re-seeding per trial keeps a resumed sweep (or a second worker) from replaying the first
    proposals, and stays reproducible for a given history.
    """
    if seed is None:
        return None
    import numpy as np

    return int(np.random.SeedSequence([int(seed) % 2**32, n_existing]).generate_state(1)[0])


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"hydra.sweeper.{key} must be a positive integer, got {value!r}")
    return value


def _plain(value: Any) -> Any:
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return dict(value) if isinstance(value, Mapping) else value
