"""The app's commands run as a user runs them, for the end-to-end tests: one helper, one env.

Each command is ``python -m <module> <overrides>`` in its own folder, with W&B offline and
quiet, one BLAS thread per process (the machines running the suite are shared) and this
checkout importable from any folder. A failure shows the command's output tail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def app_env(**extra: str) -> dict[str, str]:
    """The caller's environment as the app's commands should see it, plus ``extra``."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "PYTHONPATH": path,
    }
    return env | extra


def run_module(
    module: str,
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module *args`` in ``cwd``; with ``check``, a non-zero exit fails the test."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=dict(env) if env is not None else app_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc
