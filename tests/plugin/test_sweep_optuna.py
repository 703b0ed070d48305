"""The Optuna sweeper end to end on the tiny app: folder contents, failures, NaN, direction."""

from __future__ import annotations

import math

import optuna
import yaml

from tests.fixtures_sweep.runner import best, explain, leaderboard, run_sweep


def test_sweep_records_values_failures_and_nan(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "cat=a,b,c",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.study_name=mech",
        "nan_trials=[1]",
        "fail_trials=[2]",
    )
    assert proc.returncode == 0, explain(proc)
    for name in ("optuna.db", "leaderboard.csv", "best.yaml", "optimization_history.png"):
        assert (sweep_dir / name).is_file(), name
    rows = leaderboard(sweep_dir)
    assert [r["number"] for r in rows] == ["0", "1", "2", "3", "4"]
    states = {r["number"]: r["state"] for r in rows}
    assert states == {"0": "COMPLETE", "1": "FAIL", "2": "FAIL", "3": "COMPLETE", "4": "COMPLETE"}
    assert rows[1]["error"] == "objective is nan"
    assert "ValueError: trial 2 was told to fail" in rows[2]["error"]
    # run folders are the trial numbers, and each job saw its own trial keys
    for r in rows:
        assert r["run_dir"] == str(sweep_dir / r["number"])
    overrides = yaml.safe_load((sweep_dir / "3" / ".hydra" / "overrides.yaml").read_text())
    assert "++trial.number=3" in overrides and "++trial.sweeper=optuna" in overrides
    assert "++trial.study_name='mech'" in overrides
    # the leaderboard value is the job's return: recompute it from the params
    for r in rows:
        if r["state"] == "COMPLETE":
            x, bonus = float(r["x"]), {"a": 0.0, "b": 0.05, "c": -0.05}[r["cat"]]
            expected = 1 - (x - 0.3) ** 2 - 0.49 + bonus - 0.5 / 3
            assert math.isclose(float(r["value"]), expected, rel_tol=1e-5), r
    top = best(sweep_dir)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    assert top["value"] == max(float(r["value"]) for r in complete)
    assert f"x={top['params']['x']!r}" in top["overrides"]
    assert top["command"].startswith("python -m tests.fixtures_sweep.app")
    study = optuna.load_study(study_name="mech", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert len(study.trials) == 5 and study.best_trial.number == int(top["trial"])
    assert "5 trials (3 complete, 2 fail)" in proc.stdout


def test_minimize_picks_the_smallest(tmp_path) -> None:
    sweep_dir = tmp_path / "min"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "flavor=glob(*)",  # config-group options, expanded from the config repository
        "hydra.sweeper.direction=minimize",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.seed=3",
    )
    assert proc.returncode == 0, explain(proc)
    values = [float(r["value"]) for r in leaderboard(sweep_dir)]
    assert best(sweep_dir)["value"] == min(values)
    ranks = {r["rank"]: float(r["value"]) for r in leaderboard(sweep_dir)}
    assert ranks["1"] == min(values) and ranks["3"] == max(values)
    assert {r["flavor"] for r in leaderboard(sweep_dir)} <= {"sour", "sweet"}
    assert "flavor=" in " ".join(best(sweep_dir)["overrides"])
