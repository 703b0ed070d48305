"""Where an Optuna study lives, named by one URL that any process can open.

The sweeper, every trial's job (for pruning) and other sweep workers all reach the study through
the same string, so it must be absolute and self-contained:

- ``sqlite:///path/optuna.db`` (the default, inside the sweep folder), or any SQLAlchemy URL
  such as ``postgresql+psycopg://user@host:5432/db`` (the ``postgres`` extra; a plain
  ``postgresql://`` URL uses psycopg too when psycopg2 is not installed);
- ``journal:path/optuna.journal`` for Optuna's journal file storage (safe on shared disks where
  SQLite locking is not).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

DEFAULT_DB_NAME = "optuna.db"  # the study's SQLite file in the sweep folder, without a storage
JOURNAL_PREFIX = "journal:"
_SQLITE_PREFIX = "sqlite:///"
_SQLITE_TIMEOUT_S = 120  # several workers and trial jobs write to one file

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


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage behind ``url`` (the one the sweeper passed to the job), opened once per
    process."""
    with _cache_lock:
        if url not in _cache:
            _cache[url] = _open(url)
        return _cache[url]


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
        raise ValueError(
            f"hydra.sweeper.storage: '{url}' needs a PostgreSQL driver: "
            "pip install 'psycopg[binary]' (emotion-lab: its postgres extra)"
        )
    return f"postgresql+psycopg{sep}{rest}"


def _absolute(path: Path, base_dir: Path) -> Path:
    path = path.expanduser()
    return (path if path.is_absolute() else Path(base_dir) / path).resolve()
