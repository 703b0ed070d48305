"""The family of errors that mean "the input is wrong", as opposed to a bug in emotion-lab.

Entry points print a :class:`UserError` as one line on stderr and exit with code 2; every other
exception keeps its traceback, so a real bug is never disguised as a bad input. Each message
names what the user has to fix: the file and row, the path, or the config key.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import InstantiationException


class UserError(Exception):
    """Bad input the user can fix; the message is one line naming the file, row, path or key.

    Library code does not know which config key its arguments came from, so it names the
    parameter (``input_size=4: ...``) and says so with ``parameter=``; the config layer that
    built it from a config section puts the section in front (:meth:`under`).
    """

    def __init__(self, *args: object, parameter: str | None = None) -> None:
        super().__init__(*args)
        self.parameter = parameter

    def under(self, section: str) -> UserError:
        """The same error with its parameter as the key ``<section>.<parameter>``."""
        if self.parameter is None:
            return self
        keyed = copy.copy(self)
        keyed.args = (f"{section}.{self}",)
        keyed.parameter = f"{section}.{self.parameter}"
        return keyed


class ConfigError(UserError, ValueError):
    """A config value is missing, of the wrong type or out of range; the message names the key."""


class ParameterError(ConfigError):
    """An argument a constructor refuses, named as the constructor knows it: ``input_size=4``
    (the config layer makes it ``model.input_size=4``)."""

    parameter: str

    def __init__(self, parameter: str, value: object, problem: str) -> None:
        super().__init__(f"{parameter}={value!r}: {problem}", parameter=parameter)
        self.value, self.problem = value, problem

    def __reduce__(self) -> tuple[type[ParameterError], tuple[str, object, str]]:
        # a failed trial's error crosses processes; the default would call __init__(message)
        return type(self), (self.parameter, self.value, self.problem)


class CheckpointError(UserError, ValueError):
    """A checkpoint file cannot be read or is not what the config key expects."""


class TrainingDiverged(UserError, ArithmeticError):
    """The training loss became NaN or infinite; the run stops instead of ranking garbage."""


class MissingFileError(UserError, FileNotFoundError):
    """A file the config points to does not exist; the message names the key and the path."""


@contextmanager
def config_section(section: str) -> Iterator[None]:
    """Name the config key of an argument that a constructor built from ``section`` refused.

    Models, losses and initializers raise user errors naming their parameter
    (``margin=-1.0: must be >= 0``); built from ``cfg.loss`` it becomes ``loss.margin=-1.0: ...``.
    Hydra wraps what a ``_target_`` raises, so the wrapped cause is looked at too.
    """
    try:
        yield
    except Exception as exc:
        cause = instantiation_cause(exc)
        if isinstance(cause, UserError) and cause.parameter is not None:
            raise cause.under(section) from exc
        raise


def instantiation_cause(exc: BaseException) -> BaseException:
    """What a ``_target_`` raised, under the ``InstantiationException`` Hydra wraps it in."""
    while isinstance(exc, InstantiationException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc
