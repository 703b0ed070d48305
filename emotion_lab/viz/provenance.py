"""Where a report's numbers come from: the command that ran, this job's overrides, the date.

A report read weeks later, or one of a sweep's many, has to say how to make it again.
"""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from pathlib import Path

__all__ = ["command_line", "job_overrides", "now_text"]


def command_line(argv: list[str] | None = None, main_module: str | None = None) -> str:
    """The command as typed: ``python -m emotion_lab.train a=1`` (``-m`` runs are told apart by
    ``__main__``'s module name), or the installed command's name and its arguments."""
    args = list(sys.argv if argv is None else argv)
    if main_module is None:
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        main_module = getattr(spec, "name", None)
    if main_module and args and args[0].endswith(".py"):
        program = ["python", "-m", main_module.removesuffix(".__main__")]
    else:
        program = [Path(args[0]).name] if args else ["python"]
    return shlex.join(program + args[1:])


def job_overrides() -> list[str]:
    """This job's overrides as Hydra applied them (in a multirun: the job's own values, not the
    sweep's command line); empty outside a Hydra app."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


def now_text() -> str:
    """Local time with its UTC offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")
