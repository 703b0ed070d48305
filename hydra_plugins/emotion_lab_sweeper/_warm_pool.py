"""Warm workers: one job process per device slot, kept alive and fed job after job.

A fresh interpreter per trial pays Python start-up and every import (torch, Lightning, the
model zoo) each time; with short trials that is most of a worker's time. Here each slot (its
GPUs, or a CPU share) keeps one worker process (``_warm_worker``) that runs the slot's jobs one
after another. A worker is replaced by a fresh one for its slot when

- a job kills it (segfault, ``os._exit``, the OOM killer): only that job fails;
- a job runs past the launcher's timeout (the worker is killed);
- its resident memory after a job is above ``max_rss_bytes``, or it has run ``max_jobs`` jobs;
- a job leaves state that cannot be cleaned up (the worker says so), or was interrupted.

Workers are started with the slot's environment (``CUDA_VISIBLE_DEVICES``, thread counts, no
cluster variables) and stay in the sweep's process group, so Ctrl-C reaches them as it reaches
fresh job processes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle
from hydra.core.utils import JobReturn

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._job_return import JobInterrupted

WORKER_MODULE = "hydra_plugins.emotion_lab_sweeper._warm_worker"
IDLE_EXIT_S = 120.0  # a worker without a job this long exits (a sweep that ended in-process)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """Where a worker runs: its index and the GPU ids it owns (none for a CPU slot)."""

    index: int
    devices: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"slot {self.index}" + (f" (GPU {','.join(self.devices)})" if self.devices else "")


class WorkerDied(RuntimeError):
    """The worker process ended before it replied; the message says how."""


def exit_text(code: int | None) -> str:
    """``code 1`` or ``signal SIGKILL``, as a worker's end is best described."""
    if code is not None and code < 0:
        try:
            return f"code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"code {code}"


class WarmWorker:
    """One worker process of a slot, with a pipe for jobs and one for replies."""

    def __init__(self, slot: Slot, env: dict[str, str]) -> None:
        self.slot = slot
        self.jobs_run = 0
        self.idle_since = time.monotonic()
        jobs_r, jobs_w = os.pipe()
        replies_r, replies_w = os.pipe()
        args = (jobs_r, replies_w, os.getpid())
        command = [sys.executable, "-m", WORKER_MODULE, *map(str, args)]
        try:
            self.proc = subprocess.Popen(command, env=env, pass_fds=(jobs_r, replies_w))
        finally:
            os.close(jobs_r)
            os.close(replies_w)
        self._jobs = Connection(jobs_w, readable=False)
        self._replies = Connection(replies_r, writable=False)
        # reap the worker whenever it ends, so a worker that stops by itself leaves no zombie
        threading.Thread(target=self.proc.wait, name=f"reap-{self.proc.pid}", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and not self._jobs.closed

    def run(self, payload: bytes, timeout_s: float | None) -> dict[str, Any]:
        """Send one job and wait for its reply; raises ``TimeoutError`` or :class:`WorkerDied`."""
        started = time.monotonic()
        try:
            self._jobs.send_bytes(payload)
            answered = self._replies.poll(timeout_s)
            reply = cloudpickle.loads(self._replies.recv_bytes()) if answered else None
        except (EOFError, OSError) as exc:
            code = self._wait(5.0)
            elapsed = time.monotonic() - started
            raise WorkerDied(
                f"job process exited with {exit_text(code)} after {elapsed:.0f} s"
            ) from exc
        except BaseException:
            self.kill()  # Ctrl-C in this thread: the reply would never be read
            raise
        if reply is None:
            self.kill()
            raise TimeoutError(f"job ran past {timeout_s:.0f} s")
        self.jobs_run += 1
        assert isinstance(reply, dict) and isinstance(reply["ret"], JobReturn)
        return reply

    def _wait(self, timeout_s: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode

    def close(self) -> None:
        """Let the worker finish: it exits when its job pipe closes."""
        if not self._jobs.closed:
            self._jobs.close()
        if not self._replies.closed:
            self._replies.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close()


class WarmPool:
    """Hands each job to an idle worker of a free slot, replacing workers as the module says.

    With GPUs the slots are fixed (``per_job`` GPUs each) and a job waits for a free one;
    without, a slot is added whenever every worker is busy, so there are as many CPU workers as
    jobs ever ran at once.
    """

    def __init__(
        self,
        devices: Sequence[str],
        per_job: int,
        env_for: Callable[[Slot], dict[str, str]],
        *,
        max_jobs: int | None = None,
        max_rss_bytes: int | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self._gpu = bool(devices) and per_job > 0
        if self._gpu and per_job > len(devices):
            raise SweepConfigError(
                f"hydra.launcher.gpus_per_job={per_job} but only {len(devices)} GPU(s) are visible"
            )
        self._free: list[Slot] = []
        if self._gpu:
            chunks = [tuple(devices[i : i + per_job]) for i in range(0, len(devices), per_job)]
            self._free = [Slot(i, c) for i, c in enumerate(chunks) if len(c) == per_job]
        self._n_slots = len(self._free)
        self._workers: dict[Slot, WarmWorker] = {}
        self._cond = threading.Condition()
        self._closed = False
        self.env_for = env_for
        self.max_jobs = max_jobs
        self.max_rss_bytes = max_rss_bytes
        self.timeout_s = timeout_s
        self.replaced: list[tuple[Slot, str]] = []  # (slot, why), in order
        self.idle_exit_s = IDLE_EXIT_S
        threading.Thread(target=self._close_idle, name="warm-pool-idle", daemon=True).start()

    @property
    def slots(self) -> int:
        return self._n_slots

    def prestart(self, jobs_in_flight: int) -> None:
        """Start the workers the first jobs will use (every GPU slot, or ``jobs_in_flight``
        CPU slots), so that they warm up while the sweep prepares those jobs."""
        with self._cond:
            if not self._gpu:
                while self._n_slots < jobs_in_flight:
                    self._free.append(Slot(self._n_slots))
                    self._n_slots += 1
            for slot in self._free if self._gpu else self._free[:jobs_in_flight]:
                if slot not in self._workers:
                    self._workers[slot] = WarmWorker(slot, self.env_for(slot))

    def run(self, payload: bytes) -> JobReturn:
        """Run one pickled job (the dict ``_job_process`` reads) on a warm worker."""
        slot = self._acquire()
        try:
            worker = self._worker_of(slot)
            try:
                reply = worker.run(payload, self.timeout_s)
            except (TimeoutError, WorkerDied) as exc:
                self._replace(slot, str(exc), fresh=True)
                raise
            except BaseException:
                self._replace(slot, "interrupted while waiting for its job", fresh=False)
                raise
            if isinstance(reply["ret"]._return_value, JobInterrupted):
                self._replace(slot, "its job was interrupted", fresh=False)  # it exits now
                return reply["ret"]
            why = self._retire_reason(worker, reply)
            if why is not None:
                self._replace(slot, why, fresh=True)
            return reply["ret"]
        finally:
            self._release(slot)

    def _retire_reason(self, worker: WarmWorker, reply: dict[str, Any]) -> str | None:
        if reply.get("retire"):
            return str(reply["retire"])
        rss = int(reply.get("rss") or 0)
        if self.max_rss_bytes is not None and rss > self.max_rss_bytes:
            return f"resident memory {rss / 2**30:.2f} GiB is above the limit"
        if self.max_jobs is not None and worker.jobs_run >= self.max_jobs:
            return f"it ran {worker.jobs_run} job(s), the limit"
        return None

    def _acquire(self) -> Slot:
        with self._cond:
            if not self._gpu and not self._free:
                self._free.append(Slot(self._n_slots))
                self._n_slots += 1
            self._cond.wait_for(lambda: bool(self._free))
            return self._free.pop(0)

    def _release(self, slot: Slot) -> None:
        with self._cond:
            worker = self._workers.get(slot)
            if worker is not None:
                worker.idle_since = time.monotonic()
            self._free.append(slot)
            self._free.sort(key=lambda s: s.index)
            self._cond.notify_all()

    def _worker_of(self, slot: Slot) -> WarmWorker:
        with self._cond:
            if self._closed:
                raise RuntimeError("the warm worker pool is closed")
            worker = self._workers.get(slot)
            if worker is None or not worker.alive:
                if worker is not None:
                    worker.close()
                worker = self._workers[slot] = WarmWorker(slot, self.env_for(slot))
            return worker

    def _replace(self, slot: Slot, why: str, *, fresh: bool) -> None:
        """Retire the slot's worker; start its successor at once, so it warms up meanwhile."""
        with self._cond:
            old = self._workers.pop(slot, None)
            if old is not None:
                old.close()
                log.info(f"warm worker {old.proc.pid} of {slot} replaced: {why}")
            self.replaced.append((slot, why))
            if fresh and not self._closed:
                self._workers[slot] = WarmWorker(slot, self.env_for(slot))

    def pids(self) -> list[int]:
        with self._cond:
            return [w.proc.pid for w in self._workers.values() if w.alive]

    def _close_idle(self) -> None:
        """Close workers idle for ``idle_exit_s``: a sweep run inside a longer-lived process
        (a notebook, a test session) leaves no processes behind; a later job starts a fresh one."""
        with self._cond:
            while not self._closed:
                self._cond.wait(timeout=max(0.05, self.idle_exit_s / 4))
                now = time.monotonic()
                for slot in self._free:
                    worker = self._workers.get(slot)
                    if worker is not None and now - worker.idle_since > self.idle_exit_s:
                        del self._workers[slot]
                        worker.close()

    def close(self) -> None:
        """Let every worker finish (they exit when their job pipe closes)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.close()
