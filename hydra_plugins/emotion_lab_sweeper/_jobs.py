"""Launching one trial's job through Hydra's launcher and reading back its objective.

The objective is whatever the task function returned; an exception, a non-number, NaN or inf
all turn into an error text so the trial is recorded as failed and the sweep goes on. A job
stopped by a signal (Ctrl-C, SIGTERM) is *interrupted*, not failed: its configuration is run
again when the sweep resumes.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.emotion_lab_sweeper._job_return import JobInterrupted
from hydra_plugins.emotion_lab_sweeper._process_launcher import ProcessLauncherImpl

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    """What one job produced: a finite objective, or an error (``interrupted`` if by a signal)."""

    value: float | None
    error: str | None
    traceback: str | None
    run_dir: str | None
    started: float
    finished: float
    interrupted: bool = False
    samples: tuple[float, ...] | None = None  # the runs a RepeatedValue aggregates
    ci95: tuple[float, float] | None = None  # their 95 % interval, as the task function gave it

    @property
    def duration_s(self) -> float:
        return self.finished - self.started


def make_launcher(
    *,
    hydra_context: HydraContext,
    task_function: TaskFunction,
    config: DictConfig,
    n_jobs: int,
) -> Launcher:
    """The configured launcher; Hydra's in-process one is swapped for processes if n_jobs > 1."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    launcher = Plugins.instance().instantiate_launcher(
        hydra_context=hydra_context, task_function=task_function, config=config
    )
    if n_jobs > 1 and isinstance(launcher, BasicLauncher):
        cpus = max(1, (os.cpu_count() or 1) // n_jobs)  # CPU trials share the cores evenly
        log.info(
            f"n_jobs={n_jobs}: Hydra's basic launcher runs jobs one at a time inside this "
            "process, so each trial runs in its own process instead (hydra/launcher=process, "
            f"cpus_per_job={cpus})"
        )
        launcher = ProcessLauncherImpl(cpus_per_job=cpus, jobs_in_flight=n_jobs)
        launcher.setup(hydra_context=hydra_context, task_function=task_function, config=config)
    return launcher


def objective_of(ret: JobReturn) -> tuple[float | None, str | None, str | None]:
    """(value, error, traceback) of a finished job."""
    if ret.status != JobStatus.COMPLETED:
        exc = ret._return_value
        if isinstance(exc, BaseException):
            tb = getattr(exc, "trial_traceback", None)
            if tb is None and exc.__traceback__ is not None:
                import traceback

                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return None, f"{type(exc).__name__}: {exc}", tb
        return None, f"job ended with status {ret.status.name}", None
    raw = ret._return_value
    if isinstance(raw, bool) or raw is None:
        return None, f"job returned {raw!r}, not a number", None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, f"job returned {raw!r}, not a number", None
    if not math.isfinite(value):
        return None, f"objective is {value}", None
    return value, None, None


def run_dir_of(ret: JobReturn) -> str | None:
    try:
        return str(ret.hydra_cfg.hydra.runtime.output_dir)  # type: ignore[union-attr]
    except Exception:
        return None


def launch_one(launcher: Launcher, overrides: Sequence[str], job_num: int) -> JobOutcome:
    """Run one job as job number ``job_num`` (its folder name) and wait for it."""
    started = time.time()
    try:
        (ret,) = launcher.launch([list(overrides)], initial_job_idx=job_num)
    except Exception as exc:  # composition errors, launcher failures
        import traceback

        return JobOutcome(
            value=None,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            run_dir=None,
            started=started,
            finished=time.time(),
        )
    value, error, tb = objective_of(ret)
    interrupted = isinstance(ret._return_value, JobInterrupted)
    raw = ret._return_value if error is None else None
    return JobOutcome(
        value,
        error,
        tb,
        run_dir_of(ret),
        started,
        time.time(),
        interrupted,
        samples=getattr(raw, "samples", None),
        ci95=getattr(raw, "ci95", None),
    )
