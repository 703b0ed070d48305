"""``n_jobs``: K trials in flight in one sweep, each in its own process, no batch barrier."""

from __future__ import annotations

import optuna

from tests.fixtures_sweep.runner import explain, run_sweep


def test_n_jobs_keeps_trials_in_flight(tmp_path) -> None:
    sweep_dir = tmp_path / "flight"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.study_name=flight",
        "hydra.sweeper.pruner=none",
        "sleep_s=0.3",
        "slow_trials=[0]",
    )
    assert proc.returncode == 0, explain(proc)
    assert "each trial runs in its own process" in proc.stderr + proc.stdout
    study = optuna.load_study(study_name="flight", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    t0, t1, t2 = study.trials
    assert all(t.state.name == "COMPLETE" for t in (t0, t1, t2))
    end0 = t0.user_attrs["launched_at"] + t0.user_attrs["duration_s"]
    end1 = t1.user_attrs["launched_at"] + t1.user_attrs["duration_s"]
    assert t1.user_attrs["launched_at"] < end0  # 0 and 1 ran side by side
    # no batch barrier: trial 2 started when 1 ended, while the slow trial 0 still ran
    assert end1 <= t2.user_attrs["launched_at"] < end0
    assert t0.user_attrs["owner_pid"] == t2.user_attrs["owner_pid"]
