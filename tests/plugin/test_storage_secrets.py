"""A storage URL's password: masked in everything the plugin says or writes, read back from the
environment by the jobs, and an unreachable storage is one line naming it (password masked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._storage import has_password, unmasked
from hydra_plugins.emotion_lab_sweeper.contract import STORAGE_URL_ENV, mask_url, open_storage
from tests.fixtures_sweep.runner import explain, run_sweep


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql+psycopg://u:p@ss@h/db", "postgresql+psycopg://u:***@h/db"),
        (
            "error in 'mysql://root:pw@db.local/x' today",
            "error in 'mysql://root:***@db.local/x' today",
        ),
        (
            "hydra.sweeper.storage='postgresql://a:b@h/d'",
            "hydra.sweeper.storage='postgresql://a:***@h/d'",
        ),
        ("postgresql://h/db?user=u&password=secret", "postgresql://h/db?user=u&password=***"),
        ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
        ("postgresql://h:5432/db", "postgresql://h:5432/db"),
        ("sqlite:////tmp/a@b/optuna.db", "sqlite:////tmp/a@b/optuna.db"),
        ("journal:/tmp/x.journal", "journal:/tmp/x.journal"),
    ],
)
def test_mask_url(text: str, masked: str) -> None:
    assert mask_url(text) == masked
    assert mask_url(masked) == masked
    assert has_password(text) == (text != masked)


def test_a_masked_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    real = "postgresql://u:secret@h/db"
    monkeypatch.setenv(STORAGE_URL_ENV, real)
    assert unmasked("postgresql://u:***@h/db") == real
    assert unmasked("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(SweepConfigError, match="names another storage") as exc:
        unmasked("postgresql://v:***@h/db")
    assert "secret" not in str(exc.value)
    monkeypatch.delenv(STORAGE_URL_ENV)
    with pytest.raises(SweepConfigError, match=f"{STORAGE_URL_ENV}, which .* is not set"):
        unmasked("postgresql://u:***@h/db")


def test_an_unreachable_storage_is_a_masked_config_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(SweepConfigError) as exc:
        open_storage("postgresql://u:secret@127.0.0.1:9/db")  # nothing listens on port 9
    message = str(exc.value)
    assert message.startswith(
        "hydra.sweeper.storage: cannot open 'postgresql://u:***@127.0.0.1:9/db'"
    )
    assert "secret" not in message and "\n" not in message


def test_an_unreachable_storage_ends_the_sweep_with_one_line(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    proc = run_sweep(
        tmp_path / "s",
        "x=interval(0,1)",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.storage='postgresql://u:secret@127.0.0.1:9/db'",
    )
    assert proc.returncode == 2, explain(proc)
    (line,) = proc.stderr.strip().splitlines()
    assert "postgresql://u:***@127.0.0.1:9/db" in line, line
    assert "secret" not in proc.stdout + proc.stderr
