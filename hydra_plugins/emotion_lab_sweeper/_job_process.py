"""Child side of the process launcher: run a job the way Hydra's own launchers do.

``python -m hydra_plugins.emotion_lab_sweeper._job_process RESULT`` (a fresh process per job,
``hydra.launcher.warm=false``) reads the pickled job from stdin, runs it with ``run_job``
(output folder, logging, saved config) and writes the ``JobReturn`` to ``RESULT``. Warm workers
(``_warm_worker``) run their jobs through the same :func:`run_guarded`.

Two ways a job ends early:

- a signal (Ctrl-C reaching the whole process group, or the sweep's SIGTERM): the job stops
  like a Ctrl-C'd run and reports :class:`~._job_return.JobInterrupted`, so the sweep records
  the trial as interrupted and a resume runs its configuration again;
- the sweep process disappears (``kill -9``): nobody would read the result, so the job stops
  its own children (DDP ranks, data workers) and exits within a fraction of a second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import cloudpickle

from hydra_plugins.emotion_lab_sweeper._files import write_bytes
from hydra_plugins.emotion_lab_sweeper._job_return import (
    JobInterrupted,
    failed_job_return,
    make_job_return_portable,
)

_PARENT_POLL_S = 0.1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# what a sweep's job processes run: a fresh process per job, or a warm worker
JOB_MODULES = (__name__.encode(), b"hydra_plugins.emotion_lab_sweeper._warm_worker")


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc``; empty where that is not available)."""
    found: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    try:
        for task in tasks.iterdir():
            text = (task / "children").read_text()
            found.extend(int(p) for p in text.split())
    except OSError:
        return []
    return sorted(set(found))


def descendant_pids(pid: int) -> list[int]:
    """Children, grandchildren... of ``pid``, parents before their children."""
    out: list[int] = []
    queue = child_pids(pid)
    while queue:
        child = queue.pop(0)
        out.append(child)
        queue.extend(child_pids(child))
    return out


def is_job_process(pid: int) -> bool:
    """Whether ``pid`` runs a sweep's trial jobs (a job process or a warm worker)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(module in cmdline for module in JOB_MODULES)


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def close_exit_time_services() -> None:
    """Close, before :func:`reap_leftovers`, what the job's interpreter would close at exit: W&B
    keeps one service process per interpreter and shuts it down in an ``atexit`` hook. Reaped
    first, it is killed: a warm worker's next ``wandb.init`` would talk to a dead service (and
    a job process's exit hook prints "Connection lost")."""
    wandb = sys.modules.get("wandb")
    teardown = getattr(wandb, "teardown", None)
    if teardown is not None:
        try:
            teardown()
        except Exception as exc:  # the job's result stands; the next job starts a new service
            sys.stderr.write(f"job: closing W&B after the job failed ({exc})\n")


def reap_leftovers(grace_s: float = 1.0) -> None:
    """Processes a job left running (data loader workers, a trial's own helpers) get ``grace_s``
    to end, then are killed: the next job on a warm worker starts alone, and a job that was
    stopped, or a job process that exits, leaves no orphans behind."""
    deadline = time.monotonic() + grace_s
    while descendant_pids(os.getpid()) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)
        time.sleep(0.05)
    signal_pids(descendant_pids(os.getpid()), signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


class Interruption:
    """Remembers the first stop signal and turns it into ``KeyboardInterrupt`` (like Ctrl-C)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is not None:
            return  # already stopping: let the shutdown finish
        self.signal_name = signal.Signals(signum).name
        raise KeyboardInterrupt(self.signal_name)


def exit_when_orphaned(parent_pid: int) -> None:
    """Stop this process and its children as soon as ``parent_pid`` (the sweep) is gone."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_S)
        sys.stderr.write("sweep process is gone: stopping this job\n")
        sys.stderr.flush()
        signal_pids(descendant_pids(os.getpid()), signal.SIGKILL)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _interrupted_return(job: dict[str, Any] | None, signal_name: str) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    overrides = [] if job is None else list(job["overrides"])
    ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
    ret.return_value = JobInterrupted(f"interrupted by {signal_name}")
    ret.status = JobStatus.FAILED
    return ret


def _compose(job: dict[str, Any]) -> Any:
    """The job's config: the sweep's with the job's overrides, composed here, not in the sweep
    process, where Hydra's loader would serialise the jobs in flight behind one lock."""
    from omegaconf import open_dict

    loader = job["hydra_context"].config_loader
    config = loader.load_sweep_config(job["sweep_config"], list(job["overrides"]))
    with open_dict(config):
        config.hydra.job.id = job["job_id"]
        config.hydra.job.num = job["job_num"]
    return config


def _run(job: dict[str, Any]) -> Any:
    """Hydra's state as the sweep process had it, then ``run_job`` as Hydra's launchers call it.

    A config that fails to compose fails the job, with the error, like a failing task.
    """
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    Singleton.set_state(job["singletons"])
    setup_globals()
    try:
        config = _compose(job)
    except Exception as exc:
        return failed_job_return(list(job["overrides"]), exc)
    return run_job(
        hydra_context=job["hydra_context"],
        task_function=job["task_function"],
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def run_guarded(load: Callable[[], dict[str, Any]], interruption: Interruption) -> Any:
    """Load and run one job; a stop signal meanwhile makes it interrupted, not failed.

    The return is portable: an exception that cannot be pickled becomes a plain one.
    """
    from hydra.core.utils import JobStatus

    job: dict[str, Any] | None = None
    try:
        job = load()
        ret = _run(job)
    except BaseException:  # KeyboardInterrupt, or Lightning's SystemExit after one
        if interruption.signal_name is None:
            raise
        ret = _interrupted_return(job, interruption.signal_name)
    if interruption.signal_name is not None and ret.status != JobStatus.COMPLETED:
        ret.return_value = JobInterrupted(f"interrupted by {interruption.signal_name}")
        ret.status = JobStatus.FAILED
    return make_job_return_portable(ret)


def main(result_path: str) -> int:
    interruption = Interruption()
    interruption.install()

    def load() -> dict[str, Any]:
        job = cloudpickle.load(sys.stdin.buffer)
        exit_when_orphaned(job["parent_pid"])
        return job

    ret = run_guarded(load, interruption)
    write_bytes(result_path, cloudpickle.dumps(ret))
    close_exit_time_services()
    reap_leftovers()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python -m {__spec__.name} RESULT_PATH  (the job on stdin)")
    sys.exit(main(sys.argv[1]))
