"""A job's ``JobReturn`` as the launchers hand it back across a process boundary.

Shared by the side that runs a job (``_job_process``, ``_warm_worker``, the SLURM launcher on
its node), the launchers that wait for it (``_process_launcher``, ``_warm_pool``,
``_slurm_launcher``) and the sweepers that read the outcome (``_jobs``): a failed job carries
its exception, an interrupted one a :class:`JobInterrupted`, and every exception can be
unpickled in the sweep process. It imports no other module of the plugin.
"""

from __future__ import annotations

import traceback
from typing import Any

import cloudpickle
from hydra.core.utils import JobReturn, JobStatus


class JobInterrupted(Exception):
    """A job was stopped by a signal before it finished; the message names the signal."""


def failed_job_return(overrides: list[str], error: BaseException) -> JobReturn:
    """A job's return that carries ``error``, as Hydra's own launchers leave a failed job."""
    ret = JobReturn(overrides=overrides, status=JobStatus.FAILED)
    ret.return_value = error
    ret.status = JobStatus.FAILED
    return ret


def make_job_return_portable(ret: JobReturn) -> JobReturn:
    """Replace an unpicklable exception by a plain one carrying its text and traceback."""
    value: Any = ret._return_value
    if isinstance(value, BaseException):
        text = "".join(traceback.format_exception(type(value), value, value.__traceback__))
        try:
            cloudpickle.dumps(value)
        except Exception:
            value = RuntimeError(f"{type(value).__name__}: {value}")
        value.trial_traceback = text  # type: ignore[attr-defined]
        ret.return_value = value
        ret.status = JobStatus.FAILED
    return ret
