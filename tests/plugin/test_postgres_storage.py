"""Sweep workers sharing one study on a real PostgreSQL server, which the test starts itself.

The server is Debian's PostgreSQL (``initdb``/``pg_ctl`` from its versioned bin folder, or on
PATH), run as the ``postgres`` user when the tests run as root, on 127.0.0.1 only, with its data
in a temporary folder. Where no server can be started the test skips and says why.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from hydra_plugins.emotion_lab_sweeper._optuna_sweeper import INTERRUPTED_ATTR, RERUN_ATTR
from tests.fixtures_sweep.runner import (
    REPO,
    explain,
    leaderboard,
    start_sweep,
    sweep_command,
    sweep_env,
)

pytestmark = pytest.mark.slow

N_TRIALS = 9
PASSWORD_USER, PASSWORD = "pw_user", "Pg-s3cret-7f2a"


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return Path(versions[-1]).parent if versions else None


def _version(path: str) -> int:
    part = Path(path).parents[1].name
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """``postgresql://`` URL of a throw-away server; stopped and deleted afterwards."""
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed (pip install 'emotion-lab[postgres]')")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    as_user: list[str] = []
    user = os.environ.get("USER") or "postgres"
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        as_user, user = ["runuser", "-u", "postgres", "--"], "postgres"
    root = Path(tempfile.mkdtemp(prefix="emotion-lab-pg-"))  # not tmp_path: postgres must enter it
    if as_user:
        shutil.chown(root, user="postgres")
    data, port = root / "data", _free_port()
    try:
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust"],
            check=True,
            capture_output=True,
            text=True,
        )
        hba = data / "pg_hba.conf"  # PASSWORD_USER must give its password, the others need none
        hba.write_text(f"host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256\n{hba.read_text()}")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root}"
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
             str(root / "server.log"), "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            text=True,
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        detail = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"PostgreSQL would not start: {detail.strip().splitlines()[-1]}")
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_running_trial(study: optuna.Study, pid: int, timeout: float = 120) -> int:
    """Number of a trial that process ``pid`` is running (once it has reported one epoch)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if t.user_attrs.get("owner_pid") == pid and t.intermediate_values:
                return t.number
        time.sleep(0.05)
    raise AssertionError(f"worker {pid} never ran a trial")


def test_three_workers_share_one_postgres_study(tmp_path: Path, postgres_url: str) -> None:
    sweep_dir = tmp_path / "pg"
    args = (
        "x=interval(0,1)",
        "y=interval(0,1)",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        "hydra.sweeper.study_name=pg_shared",
        f"hydra.sweeper.storage='{postgres_url}'",
        "hydra.sweeper.seed=3",
        "hydra.sweeper.pruner=none",
        "epochs=4",
        "sleep_s=0.3",
    )
    optuna.storages.RDBStorage(_psycopg(postgres_url))  # tables first: workers then only read
    workers = [start_sweep(sweep_dir, *args) for _ in range(3)]
    victim = workers[0]
    try:
        study = _wait_for_study(postgres_url)
        killed = _wait_for_running_trial(study, victim.pid)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        outputs = [w.communicate(timeout=300)[0] for w in workers[1:]]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert [w.returncode for w in workers[1:]] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    trials = optuna.load_study(study_name="pg_shared", storage=_psycopg(postgres_url)).trials
    victim_trial = trials[killed]
    assert victim_trial.state.name == "FAIL"
    assert victim_trial.user_attrs[INTERRUPTED_ATTR].startswith("stale: its sweep process")
    assert str(victim.pid) in victim_trial.user_attrs[INTERRUPTED_ATTR]
    counted = [t for t in trials if INTERRUPTED_ATTR not in t.user_attrs]
    assert len(counted) == N_TRIALS and len(trials) == N_TRIALS + 1  # exactly n_trials
    assert {t.state.name for t in counted} == {"COMPLETE"}
    assert len({(t.params["x"], t.params["y"]) for t in counted}) == N_TRIALS  # none twice
    (rerun,) = [t for t in counted if t.user_attrs.get(RERUN_ATTR) == killed]
    assert rerun.params == victim_trial.params  # the killed configuration ran once more
    assert {t.user_attrs["owner_pid"] for t in trials} == {w.pid for w in workers}
    assert [int(r["number"]) for r in leaderboard(sweep_dir)] == list(range(N_TRIALS + 1))


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _wait_for_study(url: str, timeout: float = 120) -> optuna.Study:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return optuna.load_study(study_name="pg_shared", storage=_psycopg(url))
        except KeyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def password_url(postgres_url: str) -> str:
    """``postgresql://pw_user@host:port/postgres``: a user the server asks for its password."""
    import psycopg

    with psycopg.connect(
        postgres_url.replace("postgresql://", "postgres://"), autocommit=True
    ) as c:
        c.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")
    host = postgres_url.split("@", 1)[1]
    return f"postgresql://{PASSWORD_USER}@{host}"


def _one_trial_sweep(sweep_dir: Path, storage: str, **env: str) -> subprocess.CompletedProcess[str]:
    args = sweep_command(
        sweep_dir, "x=interval(0,1)", "y=interval(0,1)", "hydra.sweeper.n_trials=1",
        f"hydra.sweeper.storage='{storage}'", f"hydra.sweeper.study_name={sweep_dir.name}",
        "hydra.sweeper.pruner=none", "epochs=2",
    )  # fmt: skip
    return subprocess.run(
        args, cwd=REPO, env={**sweep_env(), **env}, capture_output=True, text=True, timeout=300
    )


def _files_holding(folder: Path, secret: str) -> list[str]:
    return [
        str(p.relative_to(folder))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and secret.encode() in p.read_bytes()
    ]


def test_a_password_in_the_storage_url_is_written_nowhere(
    tmp_path: Path, password_url: str
) -> None:
    with_password = password_url.replace(PASSWORD_USER, f"{PASSWORD_USER}:{PASSWORD}", 1)
    sweep_dir = tmp_path / "pw"
    proc = _one_trial_sweep(sweep_dir, with_password)
    assert proc.returncode == 0, explain(proc)
    (row,) = leaderboard(sweep_dir)
    assert row["state"] == "COMPLETE", row
    assert PASSWORD not in proc.stdout + proc.stderr
    assert _files_holding(sweep_dir, PASSWORD) == []
    masked = password_url.replace(PASSWORD_USER, f"{PASSWORD_USER}:***", 1)
    assert _files_holding(sweep_dir, masked), "the jobs' overrides name the storage, masked"
    # pruning and the trial's attributes reached the study through the real URL
    trial = optuna.load_study(study_name="pw", storage=_psycopg(with_password)).trials[0]
    assert trial.state.name == "COMPLETE" and len(trial.intermediate_values) == 2


def test_a_password_in_pgpassword_only(tmp_path: Path, password_url: str) -> None:
    sweep_dir = tmp_path / "pgpass"
    proc = _one_trial_sweep(sweep_dir, password_url, PGPASSWORD=PASSWORD)
    assert proc.returncode == 0, explain(proc)
    assert [r["state"] for r in leaderboard(sweep_dir)] == ["COMPLETE"]
    assert _files_holding(sweep_dir, PASSWORD) == []


def test_a_wrong_password_is_one_line(tmp_path: Path, password_url: str) -> None:
    wrong = password_url.replace(PASSWORD_USER, f"{PASSWORD_USER}:not-{PASSWORD}", 1)
    proc = _one_trial_sweep(tmp_path / "wrong", wrong)
    assert proc.returncode == 2, explain(proc)
    (line,) = proc.stderr.strip().splitlines()
    assert "hydra.sweeper.storage: cannot open" in line and f"{PASSWORD_USER}:***@" in line
    assert PASSWORD not in proc.stdout + proc.stderr
