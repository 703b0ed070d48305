"""What the entry points share around the run itself: bad-input reporting and the summary."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from emotion_lab.errors import UserError, instantiation_cause

log = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_USER_ERROR = 2


def user_error_of(exc: BaseException) -> UserError | None:
    """The bad-input error behind ``exc``, or None when ``exc`` is a bug.

    Only a :class:`UserError` is bad input, raised directly or by a constructor that Hydra
    instantiated from the config (Hydra wraps it in ``InstantiationException``). Any other
    exception, a plain ``ValueError`` included, is a bug and keeps its traceback.
    """
    cause = instantiation_cause(exc)
    return cause if isinstance(cause, UserError) else None


def one_line(exc: BaseException) -> str:
    """``error: <message>`` on one line, whatever line breaks the message holds."""
    return "error: " + (" ".join(str(exc).split()) or type(exc).__name__)


def exit_on_user_error(exc: BaseException) -> None:
    """Print a user error as one line and exit with code 2; return for anything else."""
    cause = user_error_of(exc)
    if cause is None or os.environ.get("EMOTION_LAB_DEBUG"):
        return
    print(one_line(cause), file=sys.stderr, flush=True)
    sys.exit(EXIT_USER_ERROR)


def one_line_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn bad input into one line on stderr and exit code 2 for single runs.

    In a multirun the exception propagates, so a sweeper records the trial as failed with its
    message. ``EMOTION_LAB_DEBUG=1`` keeps the full traceback. Anything else is a bug: Hydra
    prints a failed instantiation as its message alone, so a single run raises what the
    constructor raised instead, with its traceback.
    """

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
            if multirun:
                raise
            exit_on_user_error(exc)
            cause = instantiation_cause(exc)
            if cause is exc or not isinstance(cause, Exception):
                raise
            raise cause from None

    return wrapper


def run_app(main: Callable[[], Any], config_name: str) -> None:
    """Run a ``@hydra.main`` app; a plain single run's overrides are composed first.

    Hydra reports an override it cannot apply (``optimizer.lrr=1``, ``model=nope``) in several
    lines with exit code 1, before any code of ours runs. Composing the same overrides once
    beforehand turns that into our one line naming the key, with exit code 2. Command lines with
    flags (``-m``, ``--cfg``, ``--config-dir`` …) go to Hydra untouched: sweepers check their
    own spaces.
    """
    overrides = sys.argv[1:]
    if overrides and not any(arg.startswith("-") for arg in overrides):
        problem = composition_problem(config_name, overrides)
        if problem is not None and not os.environ.get("EMOTION_LAB_DEBUG"):
            print(f"error: {problem}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)
    main()


def composition_problem(config_name: str, overrides: list[str]) -> str | None:
    """What keeps ``overrides`` from composing with ``config_name``, on one line; None if fine."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    from emotion_lab.app.config import CONFIG_DIR, register_resolvers

    register_resolvers()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            compose(config_name, overrides=overrides)
    except HydraException as exc:
        parts = [str(exc)]
        if exc.__cause__ is not None:
            parts.append(str(exc.__cause__).split("\n")[0])
        return " ".join(" ".join(parts).split())
    finally:
        GlobalHydra.instance().clear()
    return None
