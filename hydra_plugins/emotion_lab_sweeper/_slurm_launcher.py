"""SLURM launcher for sweeps: hydra-submitit-launcher's job submission, with our own waiting.

Submitit decides that a job is over by asking ``sacct``. Where accounting is disabled (common on
small clusters) a cancelled, killed or timed-out job stays UNKNOWN and the sweep waits forever.
Here a job is over when its result file exists, or when it has left the queue (``squeue``)
without one: then its trial fails, ``lost_after_s`` later (time for a shared file system to show
a late result), whether or not ``sacct`` works.

Every job's id is written to ``<sweep dir>/.slurm_jobs/<job number>.json``. A sweep started again
after its process died (``kill -9``, a lost login node) asks SLURM about those jobs: it re-attaches
to the ones still queued or running and collects their results (``on_resume=reattach``), or
cancels them (``on_resume=cancel``). A sweep that stops on a signal (the sweeper calls
:meth:`SlurmLauncherImpl.cancel_all`), an error, or an exit cancels the jobs it waited for.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._files import write_json
from hydra_plugins.emotion_lab_sweeper._job_return import (
    failed_job_return,
    make_job_return_portable,
)

log = logging.getLogger(__name__)

RECORDS_DIR = ".slurm_jobs"
ON_RESUME = ("reattach", "cancel")
GONE = "GONE"  # squeue no longer knows the job
UNREACHABLE = "UNREACHABLE"  # squeue failed for another reason (controller down, ...)
# States of a job that may still run and write its result (squeue's long names).
ACTIVE_STATES = frozenset(
    {
        "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING",
        "RESIZING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT",
        "STAGE_OUT",
    }
)  # fmt: skip


class SlurmQueue:
    """The few SLURM commands the launcher needs, each returning plain strings."""

    def state(self, job_id: str) -> str:
        """``squeue``'s state of the job, :data:`GONE` or :data:`UNREACHABLE`."""
        try:
            proc = subprocess.run(
                ["squeue", "-h", "-t", "all", "-o", "%T", "-j", job_id],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning(f"squeue failed for job {job_id}: {exc}")
            return UNREACHABLE
        return parse_squeue(proc.returncode, proc.stdout, proc.stderr)

    def accounting_state(self, job_id: str) -> str | None:
        """The job's final state from ``sacct``, or None where accounting is off."""
        try:
            proc = subprocess.run(
                ["sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = proc.stdout.split()
        return lines[0] if proc.returncode == 0 and lines else None

    def cancel(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        try:
            subprocess.run(["scancel", *job_ids], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning(f"scancel {' '.join(job_ids)} failed: {exc}")


def parse_squeue(returncode: int, stdout: str, stderr: str) -> str:
    """State from ``squeue -h -t all -o %T -j ID``: a job the controller forgot is GONE."""
    if returncode == 0:
        states = stdout.split()
        return states[0].upper() if states else GONE
    if "invalid job id" in stderr.lower():
        return GONE
    return UNREACHABLE


@dataclass
class JobRecord:
    """One submitted job, as written in the sweep folder."""

    job_num: int
    job_id: str
    folder: str  # submitit's folder pattern (with %j)
    overrides: list[str]
    host: str
    pid: int

    def result_path(self) -> Path:
        from submitit.core.utils import JobPaths

        return JobPaths(self.folder, job_id=self.job_id, task_id=0).result_pickle

    def log_path(self) -> Path:
        from submitit.core.utils import JobPaths

        return JobPaths(self.folder, job_id=self.job_id, task_id=0).stderr


class SlurmLauncherImpl(BaseSubmititLauncher):
    """One SLURM job per Hydra job; waits on result files and ``squeue``, not ``sacct``."""

    _EXECUTOR = "slurm"

    def __init__(
        self,
        *,
        poll_s: float = 10.0,
        lost_after_s: float = 60.0,
        on_resume: str = "reattach",
        queue: SlurmQueue | None = None,
        **params: Any,
    ) -> None:
        if poll_s <= 0:
            raise SweepConfigError(f"hydra.launcher.poll_s must be > 0, got {poll_s}")
        if lost_after_s < 0:
            raise SweepConfigError(f"hydra.launcher.lost_after_s must be >= 0, got {lost_after_s}")
        if on_resume not in ON_RESUME:
            raise SweepConfigError(
                f"hydra.launcher.on_resume: '{on_resume}' is not one of {ON_RESUME}"
            )
        super().__init__(**params)
        self.poll_s = float(poll_s)
        self.lost_after_s = float(lost_after_s)
        self.on_resume = on_resume
        self.queue = queue or SlurmQueue()
        self._init_transient()

    def _init_transient(self) -> None:
        self._host = socket.gethostname()
        self._live: dict[str, JobRecord] = {}  # job id -> record, jobs this process waits for
        self._live_lock = threading.Lock()
        self._stopping = threading.Event()

    # The launcher itself is the function each job runs: only its configuration travels.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_host", "_live", "_live_lock", "_stopping"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_transient()

    def __call__(self, *args: Any, **kwargs: Any) -> JobReturn:
        """Runs on the node; the return value must unpickle in the sweep process."""
        return make_job_return_portable(super().__call__(*args, **kwargs))

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        atexit.register(self._cancel_at_exit)

    # -- launching ---------------------------------------------------------------------------
    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None, "setup() must run first"
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        records: list[JobRecord] = []
        try:
            for i, overrides in enumerate(job_overrides):
                num = initial_job_idx + i
                log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
                record = self._reattach(num, list(overrides)) or self._submit(num, list(overrides))
                records.append(record)
            return self._wait(records)
        except BaseException:
            self._cancel(records, "the sweep was interrupted")
            raise

    def _submit(self, num: int, overrides: list[str]) -> JobRecord:
        executor = self._executor()
        job = executor.submit(
            self, overrides, "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state()
        )
        record = JobRecord(
            num, str(job.job_id), str(executor.folder), overrides, self._host, os.getpid()
        )
        self._save(record)
        log.info(f"job {num}: SLURM job {record.job_id}")
        return record

    def _executor(self) -> Any:
        """A submitit executor with the configured resources (Hydra's key names)."""
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        params = dict(self.params)
        folder = params.pop("submitit_folder")
        executor = submitit.AutoExecutor(
            folder=folder,
            cluster=self._EXECUTOR,
            slurm_max_num_timeout=params.pop("max_num_timeout", 0),
        )
        generic = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in generic else f"{self._EXECUTOR}_{k}": v for k, v in params.items()}
        )
        return executor

    # -- waiting -----------------------------------------------------------------------------
    def _wait(self, records: Sequence[JobRecord]) -> list[JobReturn]:
        with self._live_lock:
            self._live.update({r.job_id: r for r in records})
        results: dict[str, JobReturn] = {}
        gone_since: dict[str, float] = {}
        try:
            while True:
                for record in records:
                    if record.job_id not in results:
                        ret = self._check(record, gone_since)
                        if ret is not None:
                            results[record.job_id] = ret
                if len(results) == len(records):
                    return [results[r.job_id] for r in records]
                self._stopping.wait(self.poll_s)
        finally:
            with self._live_lock:
                for record in records:
                    self._live.pop(record.job_id, None)

    def _check(self, record: JobRecord, gone_since: dict[str, float]) -> JobReturn | None:
        """The job's return once it is over, else None."""
        if record.result_path().exists():
            return self._read_result(record)
        if self._stopping.is_set():
            return _failed(record, f"SLURM job {record.job_id} cancelled: the sweep stopped")
        state = self.queue.state(record.job_id)
        if state == UNREACHABLE or state in ACTIVE_STATES:
            gone_since.pop(record.job_id, None)
            return None
        first = gone_since.setdefault(record.job_id, time.monotonic())
        if time.monotonic() - first < self.lost_after_s:
            return None  # give a shared file system time to show a late result
        if record.result_path().exists():
            return self._read_result(record)
        if state == GONE:
            state = self.queue.accounting_state(record.job_id) or "state unknown: no accounting"
        return _failed(
            record, f"SLURM job {record.job_id} ended without a result ({state}){_log_tail(record)}"
        )

    def _read_result(self, record: JobRecord) -> JobReturn:
        from submitit.core.utils import pickle_load

        try:
            outcome, value = pickle_load(record.result_path())
        except Exception as exc:  # truncated or unreadable file
            return _failed(record, f"SLURM job {record.job_id}: unreadable result ({exc})")
        if outcome == "success" and isinstance(value, JobReturn):
            return value
        lines = str(value).strip().splitlines() or ["no traceback"]
        error = RuntimeError(f"SLURM job {record.job_id} failed: {lines[-1]}")
        error.trial_traceback = str(value)  # type: ignore[attr-defined]
        return failed_job_return(record.overrides, error)

    # -- resuming ----------------------------------------------------------------------------
    def reattachable(self, job_num: int) -> bool:
        """Whether the job of a trial whose sweep died can still give its result.

        Asked by the Optuna sweeper before it marks such a trial stale. With
        ``on_resume=cancel`` a job still queued or running is cancelled instead.
        """
        record = self._load(job_num)
        if record is None:
            return False
        if record.result_path().exists():
            return True
        if self.queue.state(record.job_id) not in ACTIVE_STATES:
            return False
        if self.on_resume == "cancel":
            log.warning(f"job {job_num}: cancelling SLURM job {record.job_id} of a dead sweep")
            self.queue.cancel([record.job_id])
            return False
        return True

    def _reattach(self, num: int, overrides: list[str]) -> JobRecord | None:
        """The recorded job for ``num`` if it is this very job and may still give a result."""
        record = self._load(num)
        if record is None or record.overrides != overrides:
            return None
        finished = record.result_path().exists()
        if not finished and (
            self.on_resume == "cancel" or self.queue.state(record.job_id) not in ACTIVE_STATES
        ):
            return None
        log.info(f"job {num}: re-attached to SLURM job {record.job_id}")
        record.host, record.pid = self._host, os.getpid()
        self._save(record)
        return record

    def _records_dir(self) -> Path:
        assert self.config is not None
        return Path(str(self.config.hydra.sweep.dir)) / RECORDS_DIR

    def _save(self, record: JobRecord) -> None:
        write_json(self._records_dir() / f"{record.job_num}.json", asdict(record), indent=1)

    def _load(self, job_num: int) -> JobRecord | None:
        path = self._records_dir() / f"{job_num}.json"
        try:
            return JobRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    # -- stopping ----------------------------------------------------------------------------
    def _cancel(self, records: Iterable[JobRecord], why: str) -> None:
        open_jobs = [r.job_id for r in records if not r.result_path().exists()]
        if open_jobs:
            log.warning(f"cancelling SLURM job(s) {' '.join(open_jobs)}: {why}")
            self.queue.cancel(open_jobs)

    def cancel_all(self, why: str) -> None:
        """Cancel every job this process is waiting for; their waits end as failed."""
        self._stopping.set()
        with self._live_lock:
            live = list(self._live.values())
        self._cancel(live, why)

    def _cancel_at_exit(self) -> None:
        with self._live_lock:
            live = list(self._live.values())
        self._cancel(live, "the sweep process is exiting")


def _failed(record: JobRecord, message: str) -> JobReturn:
    return failed_job_return(record.overrides, RuntimeError(message))


def _log_tail(record: JobRecord) -> str:
    """``; <last line of the job's log>`` (e.g. slurmstepd's CANCELLED line), where there is one."""
    try:
        lines = record.log_path().read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"; no log at {record.log_path()}"
    return f"; log {record.log_path()}: {lines[-1].strip()}" if lines else ""
