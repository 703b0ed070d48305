"""Sweeps that really train: DDP trials inside a sweep, and short emotion-lab training sweeps."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tests.fixtures_sweep.runner import REPO, explain, leaderboard, run_sweep, sweep_env

pytestmark = pytest.mark.slow


def test_ddp_trial_runs_two_gloo_ranks_inside_a_sweep(tmp_path) -> None:
    sweep_dir = tmp_path / "ddp"
    proc = run_sweep(
        sweep_dir,
        "hydra/launcher=process",
        "mode=lightning",
        "ddp=true",
        "epochs=2",
        "x=interval(0.01,0.1)",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.study_name=ddp",
        timeout=120,
    )
    assert proc.returncode == 0, explain(proc)
    (row,) = leaderboard(sweep_dir)  # one trial: the ranks did not start sweeps of their own
    assert row["state"] == "COMPLETE" and row["epochs"] == "2"  # rank 0 reported each epoch
    assert (sweep_dir / "0" / "app_rank1.log").is_file()  # rank 1 ran as this trial's job
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0"]
    assert proc.stdout.count("trials (") == 1


def test_ddp_trial_inside_the_sweep_process_is_refused(tmp_path) -> None:
    sweep_dir = tmp_path / "ddp_inproc"
    proc = run_sweep(
        sweep_dir,
        "mode=lightning",
        "ddp=true",
        "epochs=1",
        "x=interval(0.01,0.1)",
        "hydra.sweeper.n_trials=1",
        timeout=120,
    )
    assert proc.returncode != 0  # the only trial failed: over the failure budget
    (row,) = leaderboard(sweep_dir)
    assert row["state"] == "FAIL" and "hydra/launcher=process" in row["error"]


def _train_sweep(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    env = sweep_env()
    env.setdefault("WANDB_MODE", "offline")
    env.setdefault("WANDB_SILENT", "true")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "emotion_lab.train",
            "-m",
            "experiment=smoke",
            f"hydra.sweep.dir={sweep_dir}",
            "callbacks.progress_bar=null",
            "hydra.sweeper.n_trials=2",
            *overrides,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.skipif(
    importlib.util.find_spec("emotion_lab.train") is None, reason="emotion_lab.train missing"
)
@pytest.mark.parametrize("sweeper", ["optuna", "hyperopt"])
def test_short_training_sweep(tmp_path, sweeper: str) -> None:
    sweep_dir = tmp_path / sweeper
    proc = _train_sweep(
        sweep_dir,
        f"hydra/sweeper={sweeper}",
        "optimizer.lr=tag(log,interval(1e-4,1e-1))",
        "loss.beta=interval(0,1)",
        "init=glorot_uniform,he_normal,lecun_normal",
        "hydra.sweeper.study_name=e2e",
    )
    assert proc.returncode == 0, explain(proc)
    rows = leaderboard(sweep_dir)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    assert all(0.0 <= float(r["value"]) <= 1.0 for r in rows)  # val/acc
    for r in rows:
        run_dir = Path(r["run_dir"])
        assert run_dir == sweep_dir / r["number"] and (run_dir / "checkpoints").is_dir()
        assert any((run_dir / "wandb").glob("offline-run-*")), "no W&B run for the trial"
    assert (sweep_dir / "best.yaml").is_file() and (
        sweep_dir / "optimization_history.png"
    ).is_file()
    if sweeper == "optuna":  # the pruning callback reported every validation epoch
        study = optuna.load_study(study_name="e2e", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
        assert all(len(t.intermediate_values) == 2 for t in study.trials)
        assert all("first_step_at" in t.user_attrs for t in study.trials)


def test_bench_measures_per_trial_overhead(tmp_path) -> None:
    from emotion_lab.bench.sweep import sweep_overhead

    if importlib.util.find_spec("emotion_lab.train") is None:
        pytest.skip("emotion_lab.train missing")
    sweep_dir = tmp_path / "bench"
    proc = _train_sweep(
        sweep_dir, "hydra/sweeper=optuna", "optimizer.lr=tag(log,interval(1e-4,1e-1))"
    )
    assert proc.returncode == 0, explain(proc)
    report = sweep_overhead(sweep_dir)
    assert report.n_trials == 2
    assert 0 < report.launch_to_first_step_s.mean < 120
    assert report.train_s_total < report.sweep_wall_s
    assert os.path.isfile(sweep_dir / "leaderboard.csv")
