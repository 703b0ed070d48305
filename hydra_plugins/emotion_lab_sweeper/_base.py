"""What the Optuna and Hyperopt sweepers share: config checks, the launcher, per-trial overrides,
the failure budget, reports, stopping on a signal, and a cross-process lock on the sweep folder.

Before any trial runs, the search space is checked by composing trial configs the way the
launchers do, so a misspelt key fails the sweep at once with one line naming it. A sweep folder
belongs to one study (``study.yaml``): re-running with another search space there is refused,
naming the keys that changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

import yaml
from hydra.errors import InstantiationException
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf, read_write

from hydra_plugins.emotion_lab_sweeper._config import SweeperConf
from hydra_plugins.emotion_lab_sweeper._entry import config_location_args, python_command
from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._files import write_text
from hydra_plugins.emotion_lab_sweeper._job_process import child_pids, is_job_process, signal_pids
from hydra_plugins.emotion_lab_sweeper._jobs import make_launcher
from hydra_plugins.emotion_lab_sweeper._naming import default_study_name
from hydra_plugins.emotion_lab_sweeper._report import (
    COMPLETE,
    FAIL,
    PRUNED,
    TrialRecord,
    format_leaderboard,
    write_reports,
)
from hydra_plugins.emotion_lab_sweeper._space import (
    Dimension,
    Kind,
    SearchSpace,
    describe_changes,
    parse_search_space,
    quote,
)
from hydra_plugins.emotion_lab_sweeper._storage import mask_url

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")
STUDY_FILE = "study.yaml"  # which study owns the sweep folder
_CLAIM_LOCK = ".study.lock"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_JOB_GRACE_S = 10.0  # interrupted jobs get this long to stop before SIGKILL
_MAX_SPACE_CHECKS = 64  # configs composed to check the space before the first trial
EXIT_ABORTED, EXIT_INTERRUPTED, EXIT_BAD_SETTING = 1, 130, 2
DEBUG_ENV = "EMOTION_LAB_DEBUG"  # set: bad settings keep their traceback too


class SweepAborted(RuntimeError):
    """The sweep stopped early on purpose (too many failures); the message says why."""


class SweepInterrupted(RuntimeError):
    """A signal stopped the sweep; its trials in flight were recorded as interrupted."""


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """How a sweep ends on the console, for Hydra's entry point.

    Bad setting (:class:`SweepConfigError`, also when a plugin constructor Hydra built raised
    it): one line, exit 2. Failure budget spent: one line, exit 1. Stopped by a
    signal: one line, exit 130. Anything else is a bug and keeps its traceback.
    """
    try:
        yield
    except SweepAborted as exc:
        _exit(f"error: {exc}", EXIT_ABORTED)
    except SweepInterrupted as exc:
        _exit(str(exc), EXIT_INTERRUPTED)
    except Exception as exc:
        bad = _bad_setting(exc)
        if bad is None or os.environ.get(DEBUG_ENV):
            raise
        _exit(f"error: {bad}", EXIT_BAD_SETTING)


def hide_storage_password(config: DictConfig) -> None:
    """Mask the storage URL's password in the sweep's config, which every job's
    ``.hydra/hydra.yaml`` and the sweep's ``multirun.yaml`` copy: ``hydra.sweeper.storage`` and
    the command-line override that set it. The sweeper has read the real URL already."""
    hydra_cfg = config.hydra
    with read_write(hydra_cfg):
        sweeper = hydra_cfg.get("sweeper")
        storage = sweeper.get("storage") if isinstance(sweeper, DictConfig) else None
        if isinstance(storage, str) and mask_url(storage) != storage:
            sweeper.storage = mask_url(storage)
        for group in ("hydra", "task"):
            overrides = hydra_cfg.overrides.get(group) if "overrides" in hydra_cfg else None
            if overrides is None:
                continue
            for i, item in enumerate(list(overrides)):
                if isinstance(item, str) and mask_url(item) != item:
                    overrides[i] = mask_url(item)


def _bad_setting(exc: BaseException) -> BaseException | None:
    if isinstance(exc, SweepConfigError):
        return exc
    cause: BaseException = exc
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    return cause if isinstance(cause, SweepConfigError) else None


def _exit(message: str, code: int) -> None:
    print(" ".join(message.split()), file=sys.stderr, flush=True)
    sys.exit(code)


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
        min_trials_for_failure_rate: int = 3,
        sampler: str = "tpe",
        sampler_kwargs: Mapping[str, Any] | None = None,
        samplers: Mapping[str, Any] | None = None,
        pruner: str = "none",
        pruner_kwargs: Mapping[str, Any] | None = None,
        pruners: Mapping[str, Any] | None = None,
        floor: float | None = None,
        floor_grace: int = 1,
        trial_key: str | None = None,
        value_check: str | None = None,
        job_overrides: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.params = _plain(params) or {}
        self.n_trials = _positive_int("n_trials", n_trials)
        self.n_jobs = _positive_int("n_jobs", n_jobs)
        direction = str(direction).lower()
        if direction not in DIRECTIONS:
            raise SweepConfigError(
                f"hydra.sweeper.direction: '{direction}' is not one of {DIRECTIONS}"
            )
        self.direction = direction
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SweepConfigError(f"hydra.sweeper.seed: expected an integer or null, got {seed!r}")
        self.seed = seed
        self.study_name = None if study_name in (None, "") else str(study_name)
        self.storage = storage
        if isinstance(max_failure_rate, bool) or not isinstance(max_failure_rate, int | float):
            raise SweepConfigError(
                f"hydra.sweeper.max_failure_rate: expected a number, got {max_failure_rate!r}"
            )
        rate = float(max_failure_rate)
        if not 0.0 <= rate <= 1.0:
            raise SweepConfigError(f"hydra.sweeper.max_failure_rate must be in [0, 1], got {rate}")
        self.max_failure_rate = rate
        self.min_trials_for_failure_rate = _positive_int(
            "min_trials_for_failure_rate", min_trials_for_failure_rate
        )
        self.sampler = str(sampler)
        self.sampler_kwargs = _plain(sampler_kwargs) or {}
        self.sampler_node = _selected("sampler", self.sampler, samplers, self.sampler_kwargs)
        self.pruner = str(pruner)
        self.pruner_kwargs = _plain(pruner_kwargs) or {}
        if pruners is None:
            pruners = SweeperConf().pruners
        self.pruner_node = _selected("pruner", self.pruner, pruners, self.pruner_kwargs)
        if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int | float)):
            raise SweepConfigError(f"hydra.sweeper.floor: expected a number or null, got {floor!r}")
        self.floor = None if floor is None else float(floor)
        self.floor_grace = _positive_int("floor_grace", floor_grace)
        self.trial_key = trial_key or None
        self.value_check = _value_check(value_check)
        self.job_overrides = _job_overrides(job_overrides)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Launcher | None = None
        self._stop_reason: str | None = None
        self._stop_lock = threading.Lock()
        self.interrupted: str | None = None  # the signal that stopped the sweep, once one did

    # -- Hydra plumbing -------------------------------------------------------------------
    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.name_study(config)
        hide_storage_password(config)
        self.launcher = make_launcher(
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
            n_jobs=self.n_jobs,
        )

    def name_study(self, config: DictConfig) -> None:
        """Give a study without ``study_name`` its default name, in ``config`` too, before
        anything resolves a sweep folder that names it (see ``_naming``)."""
        if self.study_name is None:
            self.study_name = default_study_name(config.hydra, self.trial_key)
        with read_write(config.hydra):
            config.hydra.sweeper.study_name = self.study_name

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
        """The search space, checked by composing trial configs before any trial runs."""
        assert self.hydra_context is not None
        space = parse_search_space(self.params, arguments, self.hydra_context.config_loader)
        if not space.dimensions:
            raise SweepConfigError(
                "nothing to search: set hydra.sweeper.params or give sweep overrides such as "
                "'optimizer.lr=tag(log,interval(1e-4,1e-1))'"
            )
        self.check_space(space)
        return space

    def check_space(self, space: SearchSpace) -> None:
        """Compose one trial config per choice, as the launchers will, naming a key that fails.

        A misspelt key (``optimizer.lrr=...``) or a missing group option (``init=foo,bar``)
        would otherwise fail every trial at composition, one after another.
        """
        assert self.hydra_context is not None and self.config is not None
        for dim in space.dimensions:  # values a trial would refuse: lr <= 0, max_epochs=0...
            for value in _probe_values(dim, ends=True) if self.value_check else ():
                try:
                    self.value_check(dim.name, value)
                except ValueError as exc:
                    raise SweepConfigError(f"{dim.where}: {exc}") from None
        base = {d.name: _probe_values(d)[0] for d in space.dimensions}
        points: list[tuple[dict[str, Any], Dimension | None]] = [(base, None)]
        for dim in space.dimensions:
            points += [({**base, dim.name: v}, dim) for v in _probe_values(dim)[1:]]
        loader = self.hydra_context.config_loader
        for params, varied in points[:_MAX_SPACE_CHECKS]:
            overrides = [*space.overrides(params), *self.trial_overrides(space, params, 0, None)]
            overrides = list(dict.fromkeys(overrides))
            try:
                loader.load_sweep_config(self.config, overrides)
            except Exception as exc:  # Hydra's ConfigCompositionException and friends
                where = varied.where if varied is not None else self._culprit(space, params)
                message = " ".join(str(exc).split()) or type(exc).__name__
                message = message.split(" Config search path:")[0]  # Hydra's long tail
                raise SweepConfigError(f"{where}: {message}") from None

    def _culprit(self, space: SearchSpace, params: Mapping[str, Any]) -> str:
        """The first override that a composition fails on, adding them one at a time."""
        assert self.hydra_context is not None and self.config is not None
        loader = self.hydra_context.config_loader
        fixed = [(f"command-line override '{o}'", o) for o in space.fixed]
        searched = [(d.where, d.override(params[d.name])) for d in space.dimensions]
        added = [(f"hydra.sweeper.job_overrides: '{o}'", o) for o in self.job_overrides]
        done: list[str] = []
        for where, override in [*fixed, *searched, *added]:
            try:
                loader.load_sweep_config(self.config, [*done, override])
            except Exception:
                return where
            done.append(override)
        return "the trial overrides"

    def claim_sweep_dir(self, space: SearchSpace) -> None:
        """Make the sweep folder this study's, or refuse a different study there.

        Trial folders are named by trial number, so a second study in the same folder would
        reuse the first one's folders. The refusal names what changed, and writes nothing.
        """
        definition = {"space": space.describe(), "direction": self.direction}
        mine = {"sweeper": self.kind, "study_name": self.resolved_study_name}
        path = self.sweep_dir / STUDY_FILE
        with file_lock(self.sweep_dir / _CLAIM_LOCK):
            if path.is_file():
                owner = yaml.safe_load(path.read_text()) or {}
                theirs = {k: owner.get(k) for k in mine}
                changes = describe_changes(owner.get("definition") or {}, definition)
                if theirs != mine or changes:
                    what = changes or (
                        f"the {theirs['sweeper']} study '{theirs['study_name']}', not the "
                        f"{mine['sweeper']} study '{mine['study_name']}'"
                    )
                    raise SweepConfigError(
                        f"hydra.sweep.dir={self.sweep_dir}: this folder holds another study "
                        f"({what}); resume it with its own settings, or choose another "
                        "hydra.sweep.dir for a new study"
                    )
                return
            write_text(path, yaml.safe_dump({**mine, "definition": definition}, sort_keys=False))

    def prepare_sweep_dir(self) -> None:
        assert self.config is not None
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")

    def trial_overrides(
        self, space: SearchSpace, params: Mapping[str, Any], number: int, storage_url: str | None
    ) -> list[str]:
        """The trial's parameters, the study name, the ``trial_key`` node when one is set, and
        the app's ``job_overrides``.

        The job reaches its Optuna trial (pruning) through the ``trial_key`` node's
        ``storage``, ``study_name`` and ``number``. ``job_overrides`` (e.g. a config group
        holding the app's trial-side callbacks) are not parameters: the leaderboard, best.yaml
        and the re-run commands leave them out, so a re-run is a plain run.
        """
        name = quote(self.resolved_study_name)
        overrides = [*space.overrides(params), f"hydra.sweeper.study_name={name}"]
        if self.trial_key is not None:
            # masked: the job finds the real URL in STORAGE_URL_ENV (see _storage)
            storage = "null" if storage_url is None else quote(mask_url(storage_url))
            overrides += [
                f"++{self.trial_key}.number={number}",
                f"++{self.trial_key}.study_name={name}",
                f"++{self.trial_key}.storage={storage}",
                f"++{self.trial_key}.sweeper={self.kind}",
            ]
        return [*overrides, *self.job_overrides]

    def rerun_command(self) -> list[str]:
        """Command prefix that re-runs one trial as a plain (non-sweep) run."""
        assert self.config is not None
        location = config_location_args(self.config.hydra, relative=True)
        return [*python_command(python="python"), *location]

    # -- failure budget ------------------------------------------------------------------
    def check_failures(self, records: Sequence[TrialRecord]) -> None:
        """Ask the workers to stop once the failed share of finished trials is too high.

        Interrupted trials are not failures; the rate only counts once
        ``min_trials_for_failure_rate`` trials have finished, so one bad first trial does not
        end a study.
        """
        finished = [r for r in records if r.state in (COMPLETE, PRUNED, FAIL)]
        failed = sum(r.state == FAIL for r in finished)
        if len(finished) < self.min_trials_for_failure_rate:
            return
        if failed / len(finished) <= self.max_failure_rate:
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
        return self._stop_reason is not None or self.interrupted is not None

    def finish(self, records: Sequence[TrialRecord]) -> None:
        """Final reports, console leaderboard, and the abort error if the budget ran out."""
        self.write_reports(records, plot=True)
        print(format_leaderboard(records, self.direction), flush=True)
        print(f"sweep folder: {self.sweep_dir}", flush=True)
        if self.interrupted is not None:
            raise SweepInterrupted(
                f"sweep interrupted by {self.interrupted}: the trials in flight are recorded as "
                "interrupted; run the same command again to resume (their configurations "
                "run again)"
            )
        if self._stop_reason is not None:
            raise SweepAborted(self._stop_reason)
        failed = [r for r in records if r.state == FAIL]
        if failed and not any(r.state in (COMPLETE, PRUNED) for r in records):
            first = min(failed, key=lambda r: r.number)
            raise SweepAborted(
                f"no trial succeeded: {len(failed)} failed; trial {first.number}: {first.error}"
            )

    # -- signals -------------------------------------------------------------------------
    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """While sweeping, SIGINT, SIGTERM and SIGHUP stop the sweep like Ctrl-C.

        The first one is remembered (``interrupted``) and raised as ``KeyboardInterrupt`` in
        the main thread; later SIGTERM/SIGHUP are ignored so the shutdown can finish (a second
        Ctrl-C still forces it).
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(signum: int, frame: FrameType | None) -> None:
            if self.interrupted is not None and signum != signal.SIGINT:
                return
            self.interrupted = self.interrupted or signal.Signals(signum).name
            raise KeyboardInterrupt(self.interrupted)

        previous = {sig: signal.signal(sig, handle) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def note_interrupt(self) -> None:
        """Record a KeyboardInterrupt that bypassed :meth:`interruptible` (e.g. in a job)."""
        self.interrupted = self.interrupted or "SIGINT"

    def stop_jobs(self, grace_s: float = _JOB_GRACE_S) -> None:
        """SIGTERM this process's trial jobs; SIGKILL those still running after ``grace_s``."""
        cancel_remote = getattr(self.launcher, "cancel_all", None)  # SLURM: scancel its jobs
        if cancel_remote is not None:
            cancel_remote("the sweep was interrupted")
        jobs = [p for p in child_pids(os.getpid()) if is_job_process(p)]
        if not jobs:
            return
        log.warning(f"stopping {len(jobs)} running trial job(s)")
        signal_pids(jobs, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            jobs = [p for p in jobs if p in child_pids(os.getpid())]
            if not jobs:
                return
            time.sleep(0.1)
        signal_pids(jobs, signal.SIGKILL)

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
        raise SweepConfigError(f"hydra.sweeper.{key} must be a positive integer, got {value!r}")
    return value


def _probe_values(dim: Dimension, ends: bool = False) -> list[Any]:
    """Values of ``dim`` worth checking: every choice, or the low end (and the high one with
    ``ends``) of a numeric range."""
    if dim.kind is Kind.CATEGORICAL:
        return list(dim.choices)
    assert dim.low is not None and dim.high is not None
    cast = int if dim.kind is Kind.INT else float
    return [cast(dim.low), cast(dim.high)] if ends else [cast(dim.low)]


def _selected(
    what: str, name: str, catalogue: Mapping[str, Any] | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``_target_`` node of catalogue entry ``name`` with ``options`` on top."""
    entries = _plain(catalogue) or {}
    node = entries.get(name)
    if not isinstance(node, Mapping) or "_target_" not in node:
        known = sorted(k for k, v in entries.items() if isinstance(v, Mapping))
        raise SweepConfigError(
            f"hydra.sweeper.{what}: '{name}' is not one of {known} "
            f"(hydra.sweeper.{what}s holds their _target_ nodes)"
        )
    return {**node, **options}


def _value_check(path: str | None) -> Any:
    if not path:
        return None
    try:
        return get_method(str(path))
    except Exception as exc:
        raise SweepConfigError(
            f"hydra.sweeper.value_check: cannot import {path!r} ({exc})"
        ) from None


def _job_overrides(value: Sequence[str] | None) -> list[str]:
    """Overrides every trial's job gets; a bare string would be split into characters."""
    if value is None:
        return []
    value = _plain(value)
    if isinstance(value, str) or not all(isinstance(o, str) and o for o in value):
        raise SweepConfigError(
            f"hydra.sweeper.job_overrides: expected a list of overrides, got {value!r}"
        )
    return list(value)


def _plain(value: Any) -> Any:
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return dict(value) if isinstance(value, Mapping) else value
