"""Several sweep processes pointed at one study cooperate: exact budget, nothing run twice."""

from __future__ import annotations

import optuna

from tests.fixtures_sweep.runner import leaderboard, start_sweep


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
