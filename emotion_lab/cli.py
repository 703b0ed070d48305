"""What the entry points share around the run itself: bad-input reporting and the summary."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.table import Table

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_ERRORS = (ValueError, FileNotFoundError, InstantiationException, OmegaConfBaseException)


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def one_line_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn bad input into one line on stderr and exit code 2 for single runs.

    In a multirun the exception propagates, so a sweeper records the trial as failed with its
    message. ``EMOTION_LAB_DEBUG=1`` keeps the full traceback.
    """

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
            if multirun or os.environ.get("EMOTION_LAB_DEBUG"):
                raise
            cause = _root_cause(exc)
            message = " ".join(str(cause).split()) or type(cause).__name__
            print(f"error: {message}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def print_summary(rows: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    Console(width=120).print(table)
