"""What a run prints on the terminal: the log formatter and filter that
``conf/hydra/job_logging/emotion_lab.yaml`` names (Hydra passes it to
``logging.config.dictConfig``). Nothing here needs torch or Lightning, so the logging setup
stays fast; the ``--help`` group listing is :func:`emotion_lab.app.config.config_groups`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["ConsoleFormatter", "DropMessages"]


class ConsoleFormatter(logging.Formatter):
    """Plain messages for INFO and below; ``LEVEL name: message`` for warnings and errors.

    The terminal then reads like Lightning's own prints, while anything that needs attention
    still says what it is and where it came from (the log file keeps full records).
    """

    def __init__(self) -> None:
        super().__init__("%(message)s")
        self._loud = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return self._loud.format(record)
        return super().format(record)


class DropMessages(logging.Filter):
    """Drop INFO-or-lower records whose message matches one of ``patterns`` (regular
    expressions, searched); warnings and errors always pass, so no filter can hide them."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        super().__init__()
        self.patterns = [re.compile(p) for p in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not self.patterns:
            return True
        message = record.getMessage()
        return not any(p.search(message) for p in self.patterns)


UNACTIONABLE_WARNINGS = (
    # Lightning's pytree helper on newer torch: an internal call, nothing a user can change
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
"""Library warnings a run would print that no setting of the user's can act on."""


def quiet_library_warnings() -> None:
    """Drop :data:`UNACTIONABLE_WARNINGS`; every other warning still shows."""
    import warnings

    for pattern in UNACTIONABLE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def route_library_logs(
    names: tuple[str, ...] = ("lightning", "lightning.pytorch", "lightning.fabric"),
) -> None:
    """Send these loggers' records through the root's handlers (the run's filters, its log
    file). Lightning gives its loggers a console handler of their own when it is imported; the
    logging config takes it away only if Lightning was imported before it, and commands import
    the training stack late (a fast ``--help``)."""
    import logging

    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
