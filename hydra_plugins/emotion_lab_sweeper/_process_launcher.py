"""A Hydra launcher that runs every job in a local process of its own, several at a time.

Hydra's basic launcher runs jobs inside the sweep process, one after another: jobs running side
by side there would share global state (Hydra's config singleton, RNGs, the working directory,
CUDA). Here jobs run in other interpreters, so the sweepers can keep ``n_jobs`` trials in
flight, and each job can be pinned to its own GPU(s) through ``CUDA_VISIBLE_DEVICES``.

By default (``warm: true``) each device slot keeps one worker process that runs job after job
(``_warm_pool``), so a trial does not pay for a fresh interpreter and its imports;
``warm: false`` starts a fresh process per job (``_job_process``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.emotion_lab_sweeper._entry import ENTRY_ENV, entry_module
from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._job_return import failed_job_return
from hydra_plugins.emotion_lab_sweeper._settings import optional_int, optional_positive_float
from hydra_plugins.emotion_lab_sweeper._warm_pool import WarmPool, WorkerDied

log = logging.getLogger(__name__)


class DevicePool:
    """GPU ids handed out to jobs so that concurrent jobs never share one."""

    def __init__(self, devices: Sequence[str], per_job: int) -> None:
        self._free = list(devices)
        self.per_job = per_job if devices else 0
        if self.per_job > len(devices) > 0:
            raise SweepConfigError(
                f"hydra.launcher.gpus_per_job={per_job} but only {len(devices)} GPU(s) are visible"
            )
        self._cond = threading.Condition()

    def acquire(self) -> list[str]:
        with self._cond:
            self._cond.wait_for(lambda: len(self._free) >= self.per_job)
            taken, self._free = self._free[: self.per_job], self._free[self.per_job :]
            return taken

    def release(self, ids: Sequence[str]) -> None:
        with self._cond:
            self._free.extend(ids)
            self._cond.notify_all()


def parent_gpus() -> list[str]:
    """GPU ids this process can use, as CUDA names them to it (``CUDA_VISIBLE_DEVICES`` entries)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch
    except ImportError:
        return []
    return [str(i) for i in range(torch.cuda.device_count())]  # NVML count, no CUDA context


def visible_gpus(gpus: Sequence[int | str] | str | None) -> list[str]:
    """GPU ids to hand out: all the parent sees (``auto``), none, or a list of indices into them.

    An index means the parent's own numbering, as ``cuda:<index>`` would in the sweep process:
    with ``CUDA_VISIBLE_DEVICES=4,5,6`` the list ``[0, 2]`` gives the jobs devices 4 and 6.
    """
    if gpus is None or gpus == "none":
        return []
    if isinstance(gpus, str):
        if gpus != "auto":
            raise SweepConfigError(
                f"hydra.launcher.gpus: expected 'auto', 'none' or a list, got {gpus!r}"
            )
        return parent_gpus()
    seen = parent_gpus()
    chosen: list[str] = []
    for entry in gpus:
        if isinstance(entry, bool) or not isinstance(entry, int):
            raise SweepConfigError(
                f"hydra.launcher.gpus: entries index the GPUs this process sees, got {entry!r}"
            )
        if not 0 <= entry < len(seen):
            raise SweepConfigError(
                f"hydra.launcher.gpus: index {entry} is out of range, this process sees "
                f"{len(seen)} GPU(s)" + (f" ({','.join(seen)})" if seen else "")
            )
        if seen[entry] in chosen:
            raise SweepConfigError(f"hydra.launcher.gpus: index {entry} is listed twice")
        chosen.append(seen[entry])
    return chosen


# Variables by which Lightning or torch.distributed would take a trial for one rank of a job that
# a cluster manager or launcher started (SLURMEnvironment, TorchElasticEnvironment, LSF, MPI,
# LightningEnvironment's LOCAL_RANK). A trial is a plain local process; left in place they make
# each trial join the allocation's job, or all DDP trials share one MASTER_PORT.
_CLUSTER_PREFIXES = (
    "SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "TORCHELASTIC_", "LSB_", "JSM_", "OMPI_", "PMI_",
    "PMIX_",
)  # fmt: skip
_CLUSTER_NAMES = frozenset(
    {
        "LOCAL_RANK", "RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
        "ROLE_RANK", "ROLE_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT",
    }
)  # fmt: skip


def local_job_env(parent: Mapping[str, str]) -> dict[str, str]:
    """``parent`` without the cluster and rank variables, for a job that is its own program."""
    return {
        key: value
        for key, value in parent.items()
        if key not in _CLUSTER_NAMES and not key.startswith(_CLUSTER_PREFIXES)
    }


def cpu_share(jobs_in_flight: int | None) -> int:
    """Threads per job so that the jobs in flight together use the cores this process may use,
    instead of each one starting a thread per core and all of them contending."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, int(jobs_in_flight or 1)))


class ProcessLauncherImpl(Launcher):
    """Runs jobs in local processes (warm workers, or one fresh process each); all jobs of one
    call run concurrently."""

    def __init__(
        self,
        gpus: Sequence[int | str] | str | None = "auto",
        gpus_per_job: int = 1,
        cpus_per_job: int | str | None = "auto",
        timeout_min: float | None = None,
        jobs_in_flight: int | None = None,
        warm: bool = True,
        worker_max_jobs: int | None = None,
        worker_max_rss_gb: float | None = None,
    ) -> None:
        if isinstance(gpus_per_job, bool) or not isinstance(gpus_per_job, int) or gpus_per_job < 0:
            raise SweepConfigError(
                f"hydra.launcher.gpus_per_job must be a whole number >= 0, got {gpus_per_job!r}"
            )
        self.jobs_in_flight = optional_int(
            "hydra.launcher.jobs_in_flight", jobs_in_flight, minimum=1, rule=">= 1 or null"
        )
        if cpus_per_job == "auto":
            cpus_per_job = cpu_share(self.jobs_in_flight)
        elif isinstance(cpus_per_job, str):
            raise SweepConfigError(
                f"hydra.launcher.cpus_per_job must be >= 1, auto or null, got {cpus_per_job!r}"
            )
        else:
            cpus_per_job = optional_int(
                "hydra.launcher.cpus_per_job", cpus_per_job, minimum=1, rule=">= 1, auto or null"
            )
        self.gpus = OmegaConf.to_container(gpus) if OmegaConf.is_config(gpus) else gpus
        self.gpus_per_job = gpus_per_job
        self.cpus_per_job = cpus_per_job
        if not isinstance(warm, bool):
            raise SweepConfigError(f"hydra.launcher.warm must be true or false, got {warm!r}")
        self.warm = warm
        self.worker_max_jobs = optional_int(
            "hydra.launcher.worker_max_jobs", worker_max_jobs, minimum=1, rule=">= 1 or null"
        )
        self.worker_max_rss_gb = optional_positive_float(
            "hydra.launcher.worker_max_rss_gb", worker_max_rss_gb, rule="> 0 or null"
        )
        timeout = optional_positive_float(
            "hydra.launcher.timeout_min", timeout_min, rule="> 0 (minutes) or null"
        )
        self.timeout_s = None if timeout is None else timeout * 60.0
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self._pool: DevicePool | None = None
        self._warm: WarmPool | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.close()  # a second setup: the old workers belong to the old task
        devices = visible_gpus(self.gpus)
        self._pool = DevicePool(devices, self.gpus_per_job)
        if self.warm:
            max_rss = self.worker_max_rss_gb
            self._warm = WarmPool(
                devices,
                self.gpus_per_job,
                lambda slot: self.job_env(slot.devices),
                max_jobs=self.worker_max_jobs,
                max_rss_bytes=None if max_rss is None else int(max_rss * 2**30),
                timeout_s=self.timeout_s,
            )
            weakref.finalize(self, self._warm.close)  # workers exit when their pipes close
            self._warm.prestart(self.jobs_in_flight or 1)

    def close(self) -> None:
        """Let the warm workers exit (they also do when this process ends)."""
        if self._warm is not None:
            self._warm.close()
            self._warm = None

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None, "setup() must run first"
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = [(list(o), initial_job_idx + i) for i, o in enumerate(job_overrides)]
        if len(jobs) == 1:
            return [self._run(*jobs[0])]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            return list(pool.map(lambda job: self._run(*job), jobs))

    def _run(self, overrides: list[str], idx: int) -> JobReturn:
        assert self.hydra_context is not None and self.config is not None
        assert self._pool is not None
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        payload = cloudpickle.dumps(
            {
                "hydra_context": self.hydra_context,
                "task_function": self.task_function,
                "sweep_config": self.config,  # the job composes its own config from these
                "overrides": overrides,
                "job_id": f"{os.getpid()}_{idx}",
                "job_num": idx,
                "singletons": Singleton.get_state(),
                "parent_pid": os.getpid(),
            }
        )
        if self._warm is not None:
            try:
                return self._warm.run(payload)
            except (TimeoutError, WorkerDied) as exc:
                return failed_job_return(overrides, exc)
        devices = self._pool.acquire()
        try:
            return self._run_process(payload, overrides, devices)
        finally:
            self._pool.release(devices)

    def job_env(self, devices: Sequence[str]) -> dict[str, str]:
        """A job's environment: ours without cluster variables, its GPUs, its thread count."""
        env = local_job_env(os.environ)
        env[ENTRY_ENV] = env.get(ENTRY_ENV) or entry_module()
        if self._pool is not None and self._pool.per_job:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        if self.cpus_per_job is not None:
            for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[key] = str(self.cpus_per_job)
        return env

    def _run_process(self, payload: bytes, overrides: list[str], devices: list[str]) -> JobReturn:
        env = self.job_env(devices)
        with tempfile.TemporaryDirectory(prefix="sweep-job-") as tmp:
            result_path = Path(tmp) / "return.pkl"
            cmd = [
                sys.executable,
                "-m",
                "hydra_plugins.emotion_lab_sweeper._job_process",
                str(result_path),
            ]
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env)
            assert proc.stdin is not None
            proc.stdin.write(payload)
            proc.stdin.close()
            started = time.monotonic()
            try:
                code = proc.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return failed_job_return(
                    overrides, TimeoutError(f"job ran past {self.timeout_s:.0f} s")
                )
            except BaseException:
                proc.kill()  # interrupted sweep: do not leave the job behind
                raise
            if result_path.exists():
                with result_path.open("rb") as fh:
                    ret = cloudpickle.load(fh)
                assert isinstance(ret, JobReturn)
                return ret
            elapsed = time.monotonic() - started
            return failed_job_return(
                overrides,
                RuntimeError(f"job process exited with code {code} after {elapsed:.0f} s"),
            )
