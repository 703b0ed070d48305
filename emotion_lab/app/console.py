"""What a run prints: log records on the terminal and the app's ``--help`` listing.

The logging pieces are named by ``conf/hydra/job_logging/emotion_lab.yaml`` (Hydra passes it to
``logging.config.dictConfig``); the group listing is the ``el.config_groups`` resolver that
``conf/hydra/help/train.yaml`` calls. Neither needs torch or Lightning, so ``--help`` and the
logging setup stay fast.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from emotion_lab.app.config import CONFIG_DIR

__all__ = ["ConsoleFormatter", "DropMessages", "config_groups"]


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


def config_groups(
    hidden: Iterable[str] = (),
    groups: Iterable[str] | None = None,
    root: str | Path = CONFIG_DIR,
) -> str:
    """``group: option, option`` lines for the config groups under ``root`` except Hydra's.

    ``hidden`` holds ``group/option`` glob patterns left out of the listing: partial configs that
    other files include (``experiment/*_common``) and options meant for another command.
    ``groups`` limits the listing to the groups a command composes (None: all of them).
    """
    base = Path(root)
    patterns = [str(p) for p in hidden]
    wanted = None if groups is None else {str(g) for g in groups}
    lines = []
    for folder in sorted(p for p in base.rglob("*") if p.is_dir()):
        group = folder.relative_to(base).as_posix()
        if group == "hydra" or group.startswith("hydra/"):
            continue
        if wanted is not None and group not in wanted:
            continue
        options = [
            f.stem
            for f in sorted(folder.glob("*.yaml"))
            if not any(fnmatch.fnmatchcase(f"{group}/{f.stem}", p) for p in patterns)
        ]
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)
