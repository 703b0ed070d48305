"""Hydra sweeper driven by an Optuna study (``hydra/sweeper=optuna``).

Each of ``n_jobs`` workers loops: take the study lock, stop if the study already holds
``n_trials`` trials, ask for one trial, launch its job, tell the result. So K trials stay in
flight without waiting for a batch, and several sweep processes sharing one storage cooperate
(the lock is a file in the sweep folder). Trial ``n`` is proposed by a sampler seeded with
``seed + n``: a resumed sweep never replays its first proposals.

Optuna has no "interrupted" state: a trial stopped by a signal, or left RUNNING by a sweep
process that died, is stored as FAIL with an ``interrupted`` attribute. It does not count
against the failure budget nor towards ``n_trials``, and its parameters are enqueued once so
that the next worker (or the resumed sweep) runs that configuration again.

With ``baseline: true`` a new study first runs the run config's own values of the searched keys
(the recipe the sweep starts from), marked with the ``baseline`` trial attribute, so that the
reports can say what tuning bought against it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from hydra_plugins.emotion_lab_sweeper._base import SweeperBase, file_lock, seed_for
from hydra_plugins.emotion_lab_sweeper._config import OptunaSweeperConf
from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._jobs import JobOutcome, launch_one
from hydra_plugins.emotion_lab_sweeper._optuna_algos import (
    build_pruner,
    build_sampler,
    is_grid,
    pruner_spec,
)
from hydra_plugins.emotion_lab_sweeper._report import INTERRUPTED, TrialRecord
from hydra_plugins.emotion_lab_sweeper._space import Dimension, Kind, SearchSpace, describe_changes
from hydra_plugins.emotion_lab_sweeper._storage import (
    STORAGE_URL_ENV,
    has_password,
    mask_url,
    open_storage,
    resolve_storage_url,
)
from hydra_plugins.emotion_lab_sweeper.contract import (
    PLANNED_EPOCHS_ATTR,
    PRUNED_ATTR,
    STUDY_META_ATTR,
)

log = logging.getLogger(__name__)

optuna.logging.set_verbosity(optuna.logging.WARNING)

LOCK_FILE = ".optuna.lock"
INTERRUPTED_ATTR = "interrupted"  # why: "interrupted by SIGINT", "stale: ..."
RERUN_ATTR = "rerun_of"  # on the trial that runs an interrupted trial's configuration again
BASELINE_ATTR = "baseline"  # on the trial that runs the run config's own values
SAMPLES_ATTR = "samples"  # the runs' values of a trial whose job returned a RepeatedValue
CI95_ATTR = "ci95"  # their 95 % interval [low, high], when the job gave one
_UNSET = object()


def to_optuna_distribution(dim: Dimension) -> BaseDistribution:
    """``choice``→categorical, ``range``→stepped int/float, ``interval``→int/float (log)."""
    if dim.kind is Kind.CATEGORICAL:
        return CategoricalDistribution(list(dim.choices))
    assert dim.low is not None and dim.high is not None
    if dim.kind is Kind.INT:
        step = int(dim.step) if dim.step is not None else 1
        return IntDistribution(int(dim.low), int(dim.high), log=dim.log, step=step)
    return FloatDistribution(float(dim.low), float(dim.high), log=dim.log, step=dim.step)


class OptunaSweeperImpl(SweeperBase):
    """Optuna TPE (default), random, CMA-ES or grid search with pruning and resume."""

    kind = "optuna"

    def __init__(
        self,
        *,
        heartbeat_s: float = 30.0,
        stale_after_s: float = 300.0,
        pruner: str = "median",
        baseline: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("samplers", OptunaSweeperConf().samplers)
        super().__init__(pruner=pruner, **kwargs)
        build_pruner(self.pruner_node, self.floor, self.floor_grace)  # a bad option fails here
        self.grid_search = is_grid(self.sampler_node)
        if not isinstance(baseline, bool):
            raise SweepConfigError(
                f"hydra.sweeper.baseline: expected true or false, got {baseline!r}"
            )
        if baseline and self.grid_search:
            raise SweepConfigError(
                "hydra.sweeper.baseline: the grid sampler enumerates its own points; "
                "set baseline: false (or put the recipe's values in the grid)"
            )
        self.baseline = baseline
        if heartbeat_s <= 0 or stale_after_s <= heartbeat_s:
            raise SweepConfigError(
                "hydra.sweeper.heartbeat_s must be > 0 and hydra.sweeper.stale_after_s larger"
            )
        self.heartbeat_s = float(heartbeat_s)
        self.stale_after_s = float(stale_after_s)
        self._ask_lock = threading.Lock()
        self._host = socket.gethostname()
        self.storage_url: str | None = None

    # -- sweep ---------------------------------------------------------------------------
    def sweep(self, arguments: list[str]) -> list[TrialRecord]:
        space = self.parse_space(arguments)
        self.claim_sweep_dir(space)
        self.storage_url = resolve_storage_url(self.storage, self.sweep_dir, self.base_dir)
        if has_password(self.storage_url):  # the jobs get it masked, and the real one here
            os.environ[STORAGE_URL_ENV] = self.storage_url
        grid: dict[str, list[Any]] | None = None
        n_trials = self.n_trials
        if self.grid_search:
            grid = {d.name: d.grid() for d in space.dimensions}
            n_trials = min(n_trials, space.grid_size())
        dists = {
            d.name: CategoricalDistribution(grid[d.name]) if grid else to_optuna_distribution(d)
            for d in space.dimensions
        }
        study = self._open_study(space)
        self.prepare_sweep_dir()  # only once the study is known to be this one
        log.info(
            f"study '{study.study_name}' in {mask_url(self.storage_url)}: {len(study.trials)} trials "
            f"so far, budget {n_trials}, sampler {self.sampler}, pruner {self.pruner}, "
            f"n_jobs {self.n_jobs}"
        )
        run = _Run(self, study, space, dists, grid, n_trials)
        with self.interruptible():
            run.execute()
            records = self.records(study, space)
            self.finish(records)
        return records

    def _open_study(self, space: SearchSpace) -> optuna.Study:
        assert self.storage_url is not None
        with file_lock(self.sweep_dir / LOCK_FILE):  # first opening creates the tables
            storage = open_storage(self.storage_url)
            study = optuna.create_study(
                storage=storage,
                study_name=self.resolved_study_name,
                direction=self.direction,
                load_if_exists=True,
                pruner=build_pruner(self.pruner_node, self.floor, self.floor_grace),
            )
            stored_direction = study.direction.name.lower()
            if stored_direction != self.direction:
                raise SweepConfigError(
                    f"hydra.sweeper.direction={self.direction} but study "
                    f"'{study.study_name}' in {mask_url(self.storage_url)} was created to {stored_direction}"
                )
            definition = {"space": space.describe(), "direction": self.direction}
            meta = study.user_attrs.get(STUDY_META_ATTR) or {}
            stored = meta.get("definition")
            changes = describe_changes(stored, definition) if stored is not None else ""
            if changes:
                raise SweepConfigError(
                    f"hydra.sweeper.study_name: study '{study.study_name}' in {mask_url(self.storage_url)} "
                    f"was started with other settings ({changes}); choose another study_name "
                    "(or sweep folder) for a new study"
                )
            pruner = pruner_spec(self.pruner_node, self.floor, self.floor_grace)
            study.set_user_attr(
                STUDY_META_ATTR, {"definition": definition, "pruner": pruner, "sweeper": self.kind}
            )
            if self.baseline and not any(
                BASELINE_ATTR in t.user_attrs for t in study.get_trials(deepcopy=False)
            ):
                study.enqueue_trial(self.baseline_params(space), user_attrs={BASELINE_ATTR: True})
                log.info("baseline: the run config's own values run as the first trial")
        return study

    def baseline_params(self, space: SearchSpace) -> dict[str, Any]:
        """The run config's values of the searched keys (a group's selected option).

        Each must be a point of its dimension, so that the baseline is a trial of this study.
        """
        assert self.config is not None
        choices = OmegaConf.select(self.config, "hydra.runtime.choices", default=None) or {}
        params: dict[str, Any] = {}
        for dim in space.dimensions:
            value = choices.get(dim.name, _UNSET)
            if value is _UNSET:
                value = OmegaConf.select(self.config, dim.name, default=_UNSET)
            if value is _UNSET or value is None:
                raise SweepConfigError(
                    f"hydra.sweeper.baseline: the run config has no value for '{dim.name}' "
                    f"(searched by {dim.where or dim.name}); set one or baseline: false"
                )
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if dim.kind is not Kind.CATEGORICAL and numeric:
                value = int(value) if dim.kind is Kind.INT and value == int(value) else value
                value = float(value) if dim.kind is Kind.FLOAT else value
            if (dim.kind is not Kind.CATEGORICAL and not numeric) or not dim.contains(value):
                raise SweepConfigError(
                    f"hydra.sweeper.baseline: the run config's {dim.name}={value!r} lies outside "
                    f"{dim.where or dim.name}: {dim.source}; widen the space or baseline: false"
                )
            params[dim.name] = value
        return params

    # -- reading the study back -----------------------------------------------------------
    def records(self, study: optuna.Study, space: SearchSpace) -> list[TrialRecord]:
        return [_record(t, space) for t in study.get_trials(deepcopy=False)]


class _Run:
    """One sweep invocation: the workers, their shared lock and the study."""

    def __init__(
        self,
        sweeper: OptunaSweeperImpl,
        study: optuna.Study,
        space: SearchSpace,
        dists: Mapping[str, BaseDistribution],
        grid: Mapping[str, Sequence[Any]] | None,
        n_trials: int,
    ) -> None:
        self.sw = sweeper
        self.study = study
        self.space = space
        self.dists = dict(dists)
        self.grid = grid
        self.n_trials = n_trials
        assert sweeper.storage_url is not None
        self.storage = open_storage(sweeper.storage_url)
        self.study_id = self.storage.get_study_id_from_name(study.study_name)
        self.errors: list[BaseException] = []
        self.adopted: list[optuna.Trial] = []  # trials of a dead sweep whose jobs still run

    def execute(self) -> None:
        try:
            with self.sw._ask_lock, file_lock(self.sw.sweep_dir / LOCK_FILE):
                self._reclaim()
            if self.sw.n_jobs == 1:
                self._worker()  # in the main thread: in-process jobs may install signal handlers
                return
        except KeyboardInterrupt:
            self.sw.note_interrupt()
            return
        threads = [
            threading.Thread(target=self._guarded_worker, name=f"sweep-worker-{i}", daemon=True)
            for i in range(self.sw.n_jobs)
        ]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
        except KeyboardInterrupt:
            self.sw.note_interrupt()
            self.sw.stop_jobs()  # the workers then record their trials as interrupted
            for t in threads:
                t.join()
        if self.errors:
            raise self.errors[0]

    def _guarded_worker(self) -> None:
        try:
            self._worker()
        except BaseException as exc:  # surfaced by execute()
            self.errors.append(exc)
            self.sw._stop_reason = self.sw._stop_reason or f"worker error: {exc}"

    def _worker(self) -> None:
        while not self.sw.stopping:
            trial = self._ask()
            if trial is None:
                return
            self._evaluate(trial)

    def _sampler_seed(self, n: int) -> int | None:
        """The seed of the sampler that proposes trial ``n``.

        Stochastic samplers get a seed per trial, so that a resume or a second worker does not
        replay the first proposals. The grid sampler must not: it gives trial ``n`` point ``n``
        of its seeded shuffle, so every trial, worker and resume has to use one shuffle, or
        points repeat and others are never run. Without a seed the study name fixes it.
        """
        if not self.sw.grid_search:
            return seed_for(self.sw.seed, n)
        if self.sw.seed is not None:
            return int(self.sw.seed)
        return zlib.crc32(self.study.study_name.encode("utf-8"))

    def _ask(self) -> optuna.Trial | None:
        with self.sw._ask_lock, file_lock(self.sw.sweep_dir / LOCK_FILE):
            if self.sw.stopping:
                return None
            self._reclaim()
            if self.adopted:
                return self.adopted.pop(0)
            n = self._counted_trials()
            if n >= self.n_trials:
                return None
            self.study.sampler = build_sampler(
                self.sw.sampler_node, self._sampler_seed(n), self.grid
            )
            trial = self.study.ask(self.dists)
            now = time.time()
            for key, value in (
                ("owner_host", self.sw._host),
                ("owner_pid", os.getpid()),
                ("heartbeat", now),
                ("launched_at", now),
            ):
                trial.set_user_attr(key, value)
            return trial

    def _evaluate(self, trial: optuna.Trial) -> None:
        params = dict(trial.params)
        twin = self._duplicate_of(params)
        if twin is not None:
            trial.set_user_attr("duplicate_of", twin.number)
            log.info(f"trial {trial.number} repeats trial {twin.number}: reusing its value")
            self._tell(trial, values=twin.value)
            self._after_trial()
            return
        overrides = self.sw.trial_overrides(self.space, params, trial.number, self.sw.storage_url)
        beat = _Heartbeat(trial, self.sw.heartbeat_s)
        try:
            outcome = launch_one(self.sw.launcher, overrides, trial.number)
        except BaseException as exc:  # Ctrl-C in this thread (Lightning makes it SystemExit)
            beat.stop()
            if self.sw.interrupted is None and not isinstance(exc, KeyboardInterrupt):
                trial.set_user_attr("error", f"the job raised {type(exc).__name__}")
                self._tell(trial, state=TrialState.FAIL)
                raise
            self.sw.note_interrupt()
            self._interrupt(trial.number, f"interrupted by {self.sw.interrupted}")
            self._after_trial()
            return
        beat.stop()
        trial.set_user_attr("duration_s", round(outcome.duration_s, 3))
        if outcome.run_dir:
            trial.set_user_attr("run_dir", outcome.run_dir)
        if self._was_interrupted(outcome):
            self._interrupt(trial.number, outcome.error or "interrupted")
            log.warning(f"trial {trial.number} interrupted: {outcome.error}")
        elif outcome.error is not None:
            trial.set_user_attr("error", outcome.error[:2000])
            self.sw.log_failure(trial.number, outcome.error, outcome.traceback)
            self._tell(trial, state=TrialState.FAIL)
        elif PRUNED_ATTR in self._user_attrs(trial.number):
            self._tell(trial, state=TrialState.PRUNED)
        else:
            if outcome.samples:
                trial.set_user_attr(SAMPLES_ATTR, list(outcome.samples))
            if outcome.ci95 is not None:
                trial.set_user_attr(CI95_ATTR, list(outcome.ci95))
            self._tell(trial, values=outcome.value)
            log.info(f"trial {trial.number} finished: {outcome.value:.6g}")
        self._after_trial()

    def _after_trial(self) -> None:
        with self.sw._ask_lock:
            records = self.sw.records(self.study, self.space)
            self.sw.write_reports(records)
            self.sw.check_failures(records)

    def _tell(self, trial: optuna.Trial | int, **kwargs: Any) -> None:
        try:
            self.study.tell(trial, **kwargs)
        except RuntimeError as exc:
            # GridSampler calls study.stop() once every grid point is taken; outside
            # study.optimize() that raises although the result is already stored
            if "Study.stop" not in str(exc) and "study.stop" not in str(exc).lower():
                raise

    def _was_interrupted(self, outcome: JobOutcome) -> bool:
        """Stopped by a signal: the job says so, or it failed while the sweep was stopping."""
        return outcome.interrupted or (
            self.sw.interrupted is not None and outcome.error is not None
        )

    def _interrupt(self, number: int, reason: str) -> None:
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another got it
            self.storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, reason)
            self.storage.set_trial_user_attr(trial_id, "error", reason[:2000])
            self._tell(number, state=TrialState.FAIL, skip_if_finished=True)

    def _counted_trials(self) -> int:
        """Trials that use up ``n_trials``: not interrupted ones, nor those still queued."""
        return sum(
            1
            for t in self.study.get_trials(deepcopy=False)
            if t.state != TrialState.WAITING and INTERRUPTED_ATTR not in t.user_attrs
        )

    def _reclaim(self) -> None:
        """Under the study lock: stale trials become interrupted; interrupted ones run again."""
        self._fail_stale()
        trials = self.study.get_trials(deepcopy=False)
        rerun = {t.user_attrs.get(RERUN_ATTR) for t in trials}
        for t in trials:
            if t.state != TrialState.FAIL or INTERRUPTED_ATTR not in t.user_attrs:
                continue
            if t.number not in rerun:  # finished trials are read-only: the rerun links back
                attrs: dict[str, Any] = {RERUN_ATTR: t.number}
                if t.user_attrs.get(BASELINE_ATTR):
                    attrs[BASELINE_ATTR] = True
                self.study.enqueue_trial(t.params, user_attrs=attrs)
                log.info(f"trial {t.number} was interrupted: its configuration runs again")

    def _user_attrs(self, number: int) -> dict[str, Any]:
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        return self.storage.get_trial_user_attrs(trial_id)

    def _duplicate_of(self, params: Mapping[str, Any]) -> FrozenTrial | None:
        if self.grid is not None:
            return None  # the grid sampler enumerates points itself
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.params == params and t.value is not None:
                return t
        return None

    def _fail_stale(self) -> None:
        """RUNNING trials whose sweep process died, or that stopped beating, are interrupted."""
        now, pid = time.time(), os.getpid()
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            attrs = t.user_attrs
            host, owner, beat = (
                attrs.get("owner_host"),
                attrs.get("owner_pid"),
                attrs.get("heartbeat"),
            )
            if host == self.sw._host and owner == pid:
                continue  # one of ours, in flight
            reason = None
            if host == self.sw._host and owner is not None and not _alive(int(owner)):
                reason = f"its sweep process ({host}:{owner}) died while it ran"
            elif beat is not None and now - float(beat) > self.sw.stale_after_s:
                reason = f"no heartbeat for {now - float(beat):.0f} s"
            if reason is None or self._adopt(t):
                continue
            self._interrupt(t.number, f"stale: {reason}")
            log.warning(f"trial {t.number} marked interrupted: {reason}")

    def _adopt(self, t: FrozenTrial) -> bool:
        """Take over a stale trial if the launcher can still reach its job (SLURM re-attach)."""
        reattachable = getattr(self.sw.launcher, "reattachable", None)
        if reattachable is None or not reattachable(t.number):
            return False
        trial = optuna.Trial(self.study, t._trial_id)
        now = time.time()
        for key, value in (
            ("owner_host", self.sw._host),
            ("owner_pid", os.getpid()),
            ("heartbeat", now),
        ):
            trial.set_user_attr(key, value)
        self.adopted.append(trial)
        log.warning(f"trial {t.number}: its sweep is gone but its job lives; re-attaching")
        return True


class _Heartbeat:
    """Refreshes the trial's ``heartbeat`` attribute while its job runs."""

    def __init__(self, trial: optuna.Trial, interval_s: float) -> None:
        self._trial = trial
        self._interval = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="trial-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._trial.set_user_attr("heartbeat", time.time())
            except Exception as exc:  # a lost beat only risks a later stale mark
                log.debug(f"heartbeat failed: {exc}")

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record(t: FrozenTrial, space: SearchSpace) -> TrialRecord:
    attrs = t.user_attrs
    duration = attrs.get("duration_s")
    if duration is None and t.datetime_start is not None and t.datetime_complete is not None:
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
    try:
        overrides = space.overrides(t.params)
    except ValueError:
        overrides = []
    state = t.state.name
    if t.state == TrialState.FAIL and INTERRUPTED_ATTR in attrs:
        state = INTERRUPTED
    return TrialRecord(
        number=t.number,
        state=state,
        params=dict(t.params),
        value=t.value,
        duration_s=duration,
        run_dir=attrs.get("run_dir"),
        error=attrs.get("error"),
        epochs=len(t.intermediate_values) or None,
        duplicate_of=attrs.get("duplicate_of"),
        overrides=overrides,
        baseline=bool(attrs.get(BASELINE_ATTR)),
        planned_epochs=attrs.get(PLANNED_EPOCHS_ATTR),
        samples=attrs.get(SAMPLES_ATTR),
        ci95=attrs.get(CI95_ATTR),
    )
