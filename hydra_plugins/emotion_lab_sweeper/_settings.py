"""Checks of the launchers' numeric settings, read from untyped (``Any``) schema keys.

Keys such as ``hydra.launcher.cpus_per_job`` also take ``auto`` or ``null``, so Hydra cannot
type-check them: a value like ``abc`` or ``-1`` reaches the launcher as it was written. These
checks turn it into a :class:`SweepConfigError` that names the key (one line, exit code 2)
instead of an ``int()`` traceback that names nothing.
"""

from __future__ import annotations

from typing import Any

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError


def _bad(key: str, value: Any, rule: str) -> SweepConfigError:
    return SweepConfigError(f"{key} must be {rule}, got {value!r}")


def optional_int(key: str, value: Any, *, minimum: int, rule: str) -> int | None:
    """``value`` as a whole number ``>= minimum``, or ``None``; ``rule`` says what is allowed."""
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise _bad(key, value, rule)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _bad(key, value, rule) from None
    if number < minimum:
        raise _bad(key, value, rule)
    return number


def optional_positive_float(key: str, value: Any, *, rule: str) -> float | None:
    """``value`` as a finite number ``> 0``, or ``None``; ``rule`` says what is allowed."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad(key, value, rule)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _bad(key, value, rule) from None
    if not 0 < number < float("inf"):
        raise _bad(key, value, rule)
    return number
