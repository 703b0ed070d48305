"""Where an Optuna study lives, named by one URL that any process can open.

The sweeper, every trial's job (for pruning) and other sweep workers all reach the study through
the same string, so it must be absolute and self-contained:

- ``sqlite:///path/optuna.db`` (the default, inside the sweep folder), or any SQLAlchemy URL
  such as ``postgresql+psycopg://user@host:5432/db`` (the ``postgres`` extra; a plain
  ``postgresql://`` URL uses psycopg too when psycopg2 is not installed);
- ``journal:path/optuna.journal`` for Optuna's journal file storage (safe on shared disks where
  SQLite locking is not).

A password in the URL never leaves the sweep process in writing: every message, file and trial
override shows it as ``***`` (:func:`mask_url`). The trials get the masked URL as their override
and the real one in the environment variable ``STORAGE_URL_ENV``, which :func:`open_storage`
reads when it is given a masked URL. Better still, leave the password out of the URL and let
libpq find it (``PGPASSWORD`` or ``~/.pgpass``).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError

if TYPE_CHECKING:
    import optuna

DEFAULT_DB_NAME = "optuna.db"  # the study's SQLite file in the sweep folder, without a storage
JOURNAL_PREFIX = "journal:"
_SQLITE_PREFIX = "sqlite:///"
_SQLITE_TIMEOUT_S = 120  # several workers and trial jobs write to one file

STORAGE_URL_ENV = "EMOTION_LAB_STORAGE_URL"  # the real URL of a masked one, for the trial jobs
MASK = "***"
# scheme://user:password@ (the password up to the last @ before a /, a space or a quote)
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^\s:/@'\"]*):(?P<password>[^\s/'\"]*)@")
_PASSWORD_PARAM = re.compile(r"(?i)(?P<head>[?&]password=)[^&\s'\"]*")

_cache: dict[str, optuna.storages.BaseStorage] = {}
_cache_lock = threading.Lock()


def resolve_storage_url(storage: str | None, sweep_dir: Path, base_dir: Path) -> str:
    """Absolute storage URL; ``None`` means a SQLite file in ``sweep_dir``.

    Relative file paths are taken from ``base_dir`` (where the sweep was started), so the
    jobs, which may run elsewhere, open the same file.
    """
    if storage is None or str(storage).strip() == "":
        return f"{_SQLITE_PREFIX}{(Path(sweep_dir) / DEFAULT_DB_NAME).resolve()}"
    url = str(storage).strip()
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url[len(JOURNAL_PREFIX) :])
        if not str(path):
            raise ValueError(f"hydra.sweeper.storage: '{url}' names no journal file")
        return f"{JOURNAL_PREFIX}{_absolute(path, base_dir)}"
    if url.startswith("sqlite:"):
        if not url.startswith(_SQLITE_PREFIX) or url == _SQLITE_PREFIX:
            raise ValueError(
                f"hydra.sweeper.storage: '{url}' is not a SQLite file URL (sqlite:///path/to.db);"
                " an in-memory database cannot be shared with the trial jobs"
            )
        return f"{_SQLITE_PREFIX}{_absolute(Path(url[len(_SQLITE_PREFIX) :]), base_dir)}"
    if "://" not in url:
        raise ValueError(
            f"hydra.sweeper.storage: '{url}' is neither a database URL (sqlite:///..., "
            f"postgresql://...) nor '{JOURNAL_PREFIX}<file>'"
        )
    return url


def mask_url(text: str) -> str:
    """``text`` (a URL, a message, an override) with every URL password shown as ``***``."""
    text = _CREDENTIALS.sub(lambda m: f"{m['head']}:{MASK}@", str(text))
    return _PASSWORD_PARAM.sub(lambda m: f"{m['head']}{MASK}", text)


def has_password(url: str) -> bool:
    """Whether ``url`` holds a password that :func:`mask_url` would hide."""
    return mask_url(url) != url


def unmasked(url: str) -> str:
    """The real URL of a masked ``url``: ``STORAGE_URL_ENV`` when it masks to ``url``."""
    if mask_url(url) != url or MASK not in url:
        return url  # a plain URL, or one with its password in it
    real = os.environ.get(STORAGE_URL_ENV)
    if real is None or mask_url(real) != url:
        why = "is not set" if real is None else f"names another storage ({mask_url(real)})"
        raise SweepConfigError(
            f"storage '{url}': its password is masked and {STORAGE_URL_ENV}, which holds the "
            f"real URL for the sweep's jobs, {why}"
        )
    return real


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage behind ``url`` (the one the sweeper passed to the job, perhaps masked),
    opened once per process.

    A storage that cannot be opened (nothing listens, wrong password, a locked or unwritable
    file) is a :class:`SweepConfigError` of one line naming it, its password masked.
    """
    real = unmasked(url)
    with _cache_lock:
        if real not in _cache:
            try:
                _cache[real] = _open(real)
            except SweepConfigError:
                raise
            except Exception as exc:
                if not _unavailable(exc):
                    raise
                raise SweepConfigError(
                    f"hydra.sweeper.storage: cannot open '{mask_url(url)}': {_reason(exc)}"
                ) from None
        return _cache[real]


def _unavailable(exc: BaseException) -> bool:
    """A file that cannot be written, or any SQLAlchemy error (the server, the login, a lock)."""
    return isinstance(exc, OSError) or any(
        c.__module__.startswith("sqlalchemy.") for c in type(exc).__mro__
    )


def _reason(exc: BaseException) -> str:
    """The first line of what the database driver said, password masked."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = lines[0] if lines else type(cause).__name__
    return mask_url(text)[:300]


def _open(url: str) -> optuna.storages.BaseStorage:
    import optuna

    if url.startswith(JOURNAL_PREFIX):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len(JOURNAL_PREFIX) :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if url.startswith(_SQLITE_PREFIX):
        Path(url[len(_SQLITE_PREFIX) :]).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(
            url, engine_kwargs={"connect_args": {"timeout": _SQLITE_TIMEOUT_S}}
        )
    return optuna.storages.RDBStorage(_with_postgres_driver(url))


def _with_postgres_driver(url: str) -> str:
    """``postgresql://`` means SQLAlchemy's psycopg2 driver; use psycopg 3 when only it is here."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        return url
    from importlib.util import find_spec

    if find_spec("psycopg2") is not None:
        return f"postgresql{sep}{rest}"
    if find_spec("psycopg") is None:
        raise SweepConfigError(
            f"hydra.sweeper.storage: '{mask_url(url)}' needs a PostgreSQL driver: "
            "pip install 'psycopg[binary]' (emotion-lab: its postgres extra)"
        )
    return f"postgresql+psycopg{sep}{rest}"


def _absolute(path: Path, base_dir: Path) -> Path:
    path = path.expanduser()
    return (path if path.is_absolute() else Path(base_dir) / path).resolve()
