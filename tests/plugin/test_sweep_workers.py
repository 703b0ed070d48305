"""Several sweep processes pointed at one study cooperate: exact budget, nothing run twice."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import optuna

from hydra_plugins.emotion_lab_sweeper import workers
from tests.fixtures_sweep.runner import REPO, leaderboard, start_sweep, sweep_env


def test_two_processes_share_one_study(tmp_path) -> None:
    sweep_dir = tmp_path / "shared"
    args = (
        "x=interval(0,1)",
        "y=interval(0,1)",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.study_name=shared",
        "hydra.sweeper.seed=5",  # same seed in both: per-trial seeding keeps them apart
        "hydra.sweeper.pruner=none",
        "sleep_s=0.2",
    )
    workers = [start_sweep(sweep_dir, *args) for _ in range(2)]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    trials = study.trials
    assert [t.number for t in trials] == list(range(8))  # exactly n_trials, none lost
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert len({(t.params["x"], t.params["y"]) for t in trials}) == 8  # none run twice
    assert len({t.user_attrs["owner_pid"] for t in trials}) == 2  # both did work
    assert sorted(int(r["number"]) for r in leaderboard(sweep_dir)) == list(range(8))


def test_the_workers_command_imports_only_the_standard_library() -> None:
    """It is a public plugin module, so Hydra's scan imports it at every start-up of any app."""
    tree = ast.parse(Path(workers.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names and {name.split(".")[0] for name in names} <= set(sys.stdlib_module_names)


def test_a_bad_worker_count_is_one_line_with_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hydra_plugins.emotion_lab_sweeper.workers", "two", "--", "true"],
        cwd=REPO,
        env=sweep_env(app=False),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: WORKERS='two': expected a positive integer"
