"""Writing files that other processes read: whole or not at all, readable by others, stable names.

Every file this project writes for someone else (a cache, a figure, a leaderboard, a sweep's
trial record) goes through :func:`atomic_path`, so a killed writer or two writers racing leave
either the old file or the new one, never half of one. It depends only on the standard library,
so the sweeper plugin can use it without importing the training code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SHARED_MODE = 0o644
"""Files are written for others (figures, reports, caches): ``mkstemp``'s 0600 would hide them."""

SHARED_DIR_MODE = 0o755
"""Folders likewise (an exported data tree): ``mkdtemp``'s 0700 would hide them."""

STALE_TEMP_SECONDS = 600
"""A temp file untouched this long is an orphan even when its writer cannot be checked."""

HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"
_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^.]+\.tmp$")


def _temp_prefix(path: Path) -> str:
    """Hidden, and naming the host and pid that write it (what :data:`_TEMP_NAME` reads back)."""
    return f".{path.name}.{HOST}-{os.getpid()}."


def temp_sibling(path: Path) -> Path:
    """A new empty temp file beside ``path`` whose name says which host and pid made it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, SHARED_MODE & ~_UMASK)
    finally:
        os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = False) -> Iterator[Path]:
    """Yield a temp sibling of ``path`` to write; it replaces ``path`` only if the block ends
    normally. ``durable`` also flushes the data to disk before the rename (records that must
    survive a power cut, such as a sweep's trial history)."""
    target = Path(path)
    tmp = temp_sibling(target)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp sibling folder of ``path`` to fill; it becomes ``path`` only if the block
    ends normally, so readers see no folder or a complete one. ``path`` must be absent or an
    empty folder: a tree is replaced whole, never merged into."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, SHARED_DIR_MODE & ~_UMASK)
        yield tmp
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike[str], text: str, *, durable: bool = False) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> Path:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(
    path: str | os.PathLike[str], data: Any, *, indent: int | None = 2, durable: bool = False
) -> Path:
    """Atomically write ``data`` as JSON (NaN allowed: metrics can be undefined)."""
    text = json.dumps(data, indent=indent, allow_nan=True, default=str)
    return write_text(path, text + "\n", durable=durable)


def json_digest(data: Any, length: int = 16) -> str:
    """A short, stable hash of JSON-able data (settings, listings): keys sorted, others via str."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temp files of writers that are gone: this host's dead pids, or any temp file
    untouched for :data:`STALE_TEMP_SECONDS` (other hosts on a shared folder). A temp folder
    (:func:`atomic_dir`) goes only when its writer is known dead: its mtime stops moving once
    its subfolders exist, so an idle time cannot tell a slow export from an orphan."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        match = _TEMP_NAME.match(entry.name)
        try:
            idle = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        dead = match is not None and match["host"] == HOST and not _alive(int(match["pid"]))
        folder_entry = entry.is_dir(follow_symlinks=False)
        if dead or (idle > STALE_TEMP_SECONDS and not folder_entry):
            with contextlib.suppress(OSError):
                if folder_entry:  # a killed atomic_dir writer's tree
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    if removed:
        log.info("removed %d orphaned temp file(s) in %s", len(removed), folder)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def _read_umask() -> int:
    """The process umask, read once at import (POSIX offers no getter, and setting it to read it
    is not thread-safe)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
