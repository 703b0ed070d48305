"""The family of errors that mean "the input is wrong", as opposed to a bug in emotion-lab.

Entry points print a :class:`UserError` as one line on stderr and exit with code 2; every other
exception keeps its traceback, so a real bug is never disguised as a bad input. Each message
names what the user has to fix: the file and row, the path, or the config key.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input the user can fix; the message is one line naming the file, row, path or key."""


class ConfigError(UserError, ValueError):
    """A config value is missing, of the wrong type or out of range; the message names the key."""


class ParameterError(ConfigError):
    """An argument a constructor refuses, named as the constructor knows it (``input_size=4``).

    Library code does not know which config key its arguments came from, so it names the
    parameter; the config layer that built it from a config section adds that section in front
    (:meth:`under`: ``model.input_size=4: ...``).
    """

    def __init__(self, parameter: str, value: object, problem: str) -> None:
        self.parameter, self.value, self.problem = parameter, value, problem
        super().__init__(f"{parameter}={value!r}: {problem}")

    def __reduce__(self) -> tuple[type[ParameterError], tuple[str, object, str]]:
        # a failed trial's error crosses processes; the default would call __init__(message)
        return type(self), (self.parameter, self.value, self.problem)

    def under(self, section: str) -> ParameterError:
        """The same error with the config key ``<section>.<parameter>``."""
        return ParameterError(f"{section}.{self.parameter}", self.value, self.problem)


class CheckpointError(UserError, ValueError):
    """A checkpoint file cannot be read or is not what the config key expects."""


class TrainingDiverged(UserError, ArithmeticError):
    """The training loss became NaN or infinite; the run stops instead of ranking garbage."""


class MissingFileError(UserError, FileNotFoundError):
    """A file the config points to does not exist; the message names the key and the path."""
