"""Helpers to run the tiny sweep app as a real command line and read what it left behind."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
APP = "tests.fixtures_sweep.app"


def sweep_command(sweep_dir: Path, *overrides: str, sweeper: str = "optuna") -> list[str]:
    return [
        sys.executable,
        "-m",
        APP,
        "-m",
        f"hydra/sweeper={sweeper}",
        f"hydra.sweep.dir={sweep_dir}",
        *overrides,
    ]


# set by tests/plugin/conftest.py: packages the processes of the plugin's tests cannot import
HIDE_ENV = "PLUGIN_TESTS_HIDE"


def sweep_env(*, app: bool = True) -> dict[str, str]:
    """The environment of a sweep command. The fixture app (``app``) binds emotion-lab's sweeper
    configs and reports through the app's trial link, so it gets the app even where the plugin's
    tests hide it; a foreign Hydra app (``app=False``) runs as they leave it."""
    env = dict(os.environ)
    if app:
        env.pop(HIDE_ENV, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env["HYDRA_FULL_ERROR"] = "1"
    return env


def run_sweep(
    sweep_dir: Path, *overrides: str, sweeper: str = "optuna", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a sweep to the end; the caller checks ``returncode``."""
    return subprocess.run(
        sweep_command(sweep_dir, *overrides, sweeper=sweeper),
        cwd=REPO,
        env=sweep_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_sweep(sweep_dir: Path, *overrides: str, sweeper: str = "optuna") -> subprocess.Popen[str]:
    return subprocess.Popen(
        sweep_command(sweep_dir, *overrides, sweeper=sweeper),
        cwd=REPO,
        env=sweep_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def leaderboard(sweep_dir: Path) -> list[dict[str, str]]:
    with (Path(sweep_dir) / "leaderboard.csv").open() as fh:
        return sorted(csv.DictReader(fh), key=lambda row: int(row["number"]))


def best(sweep_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((Path(sweep_dir) / "best.yaml").read_text())


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"


def kill_during_trial(
    proc: subprocess.Popen[str], sweep_dir: Path, number: int, timeout: float = 60
) -> str:
    """SIGKILL the sweep while trial ``number`` runs (its folder exists); returns its output."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while not (Path(sweep_dir) / str(number)).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.stdout else ""
            proc.kill()
            raise AssertionError(f"trial {number} never started:\n{out[-3000:]}")
        time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.stdout.read() if proc.stdout else ""
