"""The failure budget: a sweep stops, with a message, once too many trials failed."""

from __future__ import annotations

from tests.fixtures_sweep.runner import explain, leaderboard, run_sweep


def test_optuna_stops_when_failures_exceed_the_rate(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.max_failure_rate=0.5",
        "fail_trials=[1,2]",
    )
    assert proc.returncode != 0
    message = "2 of 3 finished trials failed (67%), more than hydra.sweeper.max_failure_rate=0.5"
    assert message in proc.stderr + proc.stdout, explain(proc)
    states = [r["state"] for r in leaderboard(sweep_dir)]
    assert states == ["COMPLETE", "FAIL", "FAIL"]  # stopped: trials 3..5 never started
    assert not (sweep_dir / "3").exists()


def test_hyperopt_records_failures_and_nan_and_goes_on(tmp_path) -> None:
    sweep_dir = tmp_path / "hyperopt"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "cat=a,b,c",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.max_failure_rate=0.5",
        "hydra.sweeper.min_trials_for_failure_rate=1",
        "nan_trials=[0]",
        "fail_trials=[2]",
        sweeper="hyperopt",
    )
    # 1 of 1 failed after trial 0 is more than 0.5: the sweep stops right there
    assert proc.returncode != 0
    rows = leaderboard(sweep_dir)
    assert [(r["number"], r["state"], r["error"]) for r in rows] == [
        ("0", "FAIL", "objective is nan")
    ]
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "cat=a,b,c",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.max_failure_rate=1.0",
        "nan_trials=[0]",
        "fail_trials=[2]",
        sweeper="hyperopt",
    )
    assert proc.returncode == 0, explain(proc)
    rows = leaderboard(sweep_dir)
    assert [r["state"] for r in rows] == ["FAIL", "COMPLETE", "FAIL", "COMPLETE"]
    assert "ValueError: trial 2 was told to fail" in rows[2]["error"]
    assert all(float(r["value"]) < 1.1 for r in rows if r["state"] == "COMPLETE")


def test_one_failing_first_trial_does_not_end_the_study(tmp_path) -> None:
    """The rate counts only from ``min_trials_for_failure_rate`` (3) finished trials on."""
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.max_failure_rate=0.5",
        "fail_trials=[0]",
    )
    assert proc.returncode == 0, explain(proc)
    assert [r["state"] for r in leaderboard(sweep_dir)] == ["FAIL"] + ["COMPLETE"] * 3
