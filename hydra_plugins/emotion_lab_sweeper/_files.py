"""Files the plugin writes for other processes to read: whole or not at all.

The sweep reports (leaderboard, ``best.yaml``, figures), the study's settings file, Hyperopt's
trials, a job's pickled result and the SLURM job records are each written to a hidden temp file
beside the target and renamed over it, so a killed writer, or two sweep workers refreshing the
same report, leave the old file or the new one, never half of one. New files are readable by
others (0644 less the umask, as ``open`` makes them; ``mkstemp``'s 0600 would hide the reports
of a shared sweep folder). Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_MODE = 0o644


def _temp_beside(path: Path) -> Path:
    """A new empty file next to ``path``: hidden, ``.tmp``, naming the pid that writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _MODE)  # the umask applies
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = False) -> Iterator[Path]:
    """Yield a temp file beside ``path`` to write; it replaces ``path`` only if the block ends
    normally. ``durable`` also flushes it to disk before the rename (the trial history)."""
    target = Path(path)
    tmp = _temp_beside(target)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> Path:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, durable: bool = False) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    return write_bytes(path, text.encode("utf-8"), durable=durable)


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> Path:
    """Atomically write ``data`` as JSON (NaN allowed; what JSON cannot hold, as text)."""
    return write_text(path, json.dumps(data, indent=indent, allow_nan=True, default=str) + "\n")
