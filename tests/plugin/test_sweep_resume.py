"""Killing an Optuna sweep mid-trial and re-running the same command resumes it: the killed
trial is recorded as interrupted and its configuration runs again."""

from __future__ import annotations

import signal

import optuna

from tests.fixtures_sweep.runner import (
    explain,
    kill_during_trial,
    leaderboard,
    run_sweep,
    start_sweep,
)

ARGS = (
    "x=interval(0,1)",
    "y=interval(0,1)",
    "hydra.sweeper.n_trials=5",
    "hydra.sweeper.seed=7",
    "hydra.sweeper.pruner=none",
    "sleep_s=0.15",
)


def test_resume_after_kill(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = start_sweep(sweep_dir, *ARGS)
    kill_during_trial(proc, sweep_dir, 2)
    assert proc.returncode == -signal.SIGKILL
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    before = optuna.load_study(study_name=name, storage=storage).trials
    assert [t.state.name for t in before] == ["COMPLETE", "COMPLETE", "RUNNING"]

    proc = run_sweep(sweep_dir, *ARGS)  # the very same command
    assert proc.returncode == 0, explain(proc)
    rows = leaderboard(sweep_dir)
    assert [r["number"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    states = [r["state"] for r in rows]
    assert states == ["COMPLETE", "COMPLETE", "INTERRUPTED", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert rows[2]["error"].startswith("stale: its sweep process")
    assert (rows[3]["x"], rows[3]["y"]) == (rows[2]["x"], rows[2]["y"])  # run again first
    assert all((sweep_dir / str(n)).is_dir() for n in range(6))  # run folders continue
    counted = [r for r in rows if r["state"] != "INTERRUPTED"]  # n_trials=5 of them
    points = {(r["x"], r["y"]) for r in counted}
    assert len(points) == 5  # the restarted seed proposed nothing twice
    after = optuna.load_study(study_name=name, storage=storage).trials
    assert [t.params for t in after[:2]] == [t.params for t in before[:2]]  # kept as they were
