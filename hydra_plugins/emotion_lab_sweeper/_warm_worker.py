"""Child side of the warm worker pool: one interpreter that runs job after job for one slot.

Started by :class:`~hydra_plugins.emotion_lab_sweeper._warm_pool.WarmWorker` with two pipe ends
(jobs in, replies out). Each job runs exactly as in a fresh job process (``_job_process``): the
pickled Hydra state is installed, ``run_job`` runs the task, a stop signal makes the job
*interrupted*. What one job changes in the process and the next one must not see is put back
after it: environment variables (Lightning's DDP writes ``MASTER_PORT``, ``LOCAL_RANK``...),
working directory, ``sys.path``, signal handlers, services closed at exit (W&B), leftover
child processes. A job that leaves state that cannot be put back (a ``torch.distributed``
process group) makes the worker ask to be replaced, and exit after its reply. The reply carries
the resident memory after the job, for the pool's memory limit.

The worker exits when its job pipe closes (the pool retired it or the sweep ended), after an
interrupted job (the sweep is stopping), on a stop signal while idle, and when the sweep
process disappears.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from hydra_plugins.emotion_lab_sweeper._entry import ENTRY_ENV
from hydra_plugins.emotion_lab_sweeper._job_process import (
    STOP_SIGNALS,
    Interruption,
    close_exit_time_services,
    exit_when_orphaned,
    reap_leftovers,
    run_guarded,
)


def resident_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``), else its peak (``getrusage``)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class ProcessState:
    """What a job may change in the worker process, as it was before the first job."""

    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = field(default_factory=os.getcwd)
    path: list[str] = field(default_factory=lambda: list(sys.path))

    def restore(self, interruption: Interruption) -> str | None:
        """Put the process back as it was; the reason it should be replaced, if it should."""
        close_exit_time_services()
        os.environ.clear()
        os.environ.update(self.environ)
        with contextlib.suppress(OSError):
            os.chdir(self.cwd)
        sys.path[:] = self.path
        interruption.install()
        return _torch_cleanup()


def _torch_cleanup() -> str | None:
    """Free cached GPU memory; a process group left initialised (a DDP job: Lightning also
    watches its ranks from a thread that would kill this process) means a fresh worker."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    dist = getattr(torch, "distributed", None)
    if dist is not None and dist.is_available() and dist.is_initialized():
        return "the job left a torch.distributed process group"
    return None


def load_job(data: bytes) -> dict[str, Any]:
    """Unpickle a job; it keeps this worker's plugin registry, which Hydra would rescan."""
    from hydra.core.plugins import Plugins
    from hydra.core.singleton import Singleton

    job: dict[str, Any] = cloudpickle.loads(data)
    plugins = Singleton._instances.get(Plugins)
    if plugins is not None:  # the same plugins every job: the scan costs ~0.2 s a job
        job["singletons"]["instances"][Plugins] = plugins
    return job


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold stop signals between a job's end and its reply, so that no reply is lost or cut."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def warm_up() -> None:
    """What every job needs, done while the sweep still prepares the first one: Hydra's plugin
    registry, and the imports of the program that started the sweep (``python -m <module>``)."""
    import importlib

    from hydra.core.plugins import Plugins

    Plugins.instance()
    entry = os.environ.get(ENTRY_ENV, "")
    if entry and not entry.endswith(".py") and os.sep not in entry:
        try:
            importlib.import_module(entry)
        except Exception as exc:  # the job will import what it needs, and fail there if it must
            sys.stderr.write(f"warm worker: importing {entry} failed ({exc}); going on\n")


def serve(jobs: Connection, replies: Connection, parent_pid: int) -> int:
    """Run the jobs that arrive on ``jobs`` until it closes; one reply per job."""
    interruption = Interruption()
    interruption.install()
    exit_when_orphaned(parent_pid)
    state = ProcessState()
    try:
        warm_up()
    except KeyboardInterrupt:
        return 0
    while True:
        try:
            data = jobs.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            return 0  # retired, the sweep ended, or it is stopping while this worker idles
        ret = run_guarded(lambda data=data: load_job(data), interruption)
        try:
            with signals_held():
                retire = state.restore(interruption)
                gc.collect()
                reply = {"ret": ret, "rss": resident_bytes(), "retire": retire}
                replies.send_bytes(cloudpickle.dumps(reply))
        except KeyboardInterrupt:
            reap_leftovers()
            return 0  # a stop signal held while replying: the reply went out, now stop
        reap_leftovers()  # also when stopping: nobody else would stop the trial's processes
        if interruption.signal_name is not None or retire is not None:
            return 0  # the sweep is stopping, or the pool replaces this worker


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(f"usage: python -m {__spec__.name} JOBS_FD REPLIES_FD PARENT_PID\n")
        return 2
    jobs = Connection(int(argv[0]), writable=False)
    replies = Connection(int(argv[1]), readable=False)
    return serve(jobs, replies, int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
