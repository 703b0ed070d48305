"""The baseline trial (the config's own values, run first) and what the reports say about it."""

from __future__ import annotations

import optuna
import pytest

from hydra_plugins.emotion_lab_sweeper._report import (
    COMPLETE,
    PRUNED,
    TrialRecord,
    best_against_baseline,
    format_leaderboard,
    leaderboard_csv,
    pruning_savings,
)
from tests.fixtures_sweep.runner import explain, leaderboard, run_sweep


def test_baseline_runs_first_and_is_marked(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",  # app.yaml: x=0.5, cat=a, flavor=sweet
        "cat=a,b,c",
        "flavor=sweet,sour",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.study_name=base",
        "hydra.sweeper.baseline=true",
        "hydra.sweeper.seed=3",
    )
    assert proc.returncode == 0, explain(proc)
    study = optuna.load_study(study_name="base", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    first, *others = sorted(study.trials, key=lambda t: t.number)
    assert first.params == {"x": 0.5, "cat": "a", "flavor": "sweet"}
    assert first.user_attrs["baseline"] is True
    assert first.datetime_start <= min(t.datetime_start for t in others)
    assert not any("baseline" in t.user_attrs for t in others)
    assert len(others) == 3  # the baseline is one of the n_trials
    rows = leaderboard(sweep_dir)
    assert [r["baseline"] for r in rows] == ["yes", "", "", ""]
    baseline_value = 1 - 0.2**2 - 0.7**2 - 0.5 / 3  # app.py's curve at the config's x, y, cat
    assert first.value == pytest.approx(baseline_value)
    assert f"against the baseline's {baseline_value:.6g} (trial 0" in proc.stdout


def test_resuming_does_not_enqueue_a_second_baseline(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ["x=interval(0,1)", "hydra.sweeper.study_name=base", "hydra.sweeper.baseline=true"]
    assert run_sweep(sweep_dir, *args, "hydra.sweeper.n_trials=2").returncode == 0
    proc = run_sweep(sweep_dir, *args, "hydra.sweeper.n_trials=3")
    assert proc.returncode == 0, explain(proc)
    assert [r["baseline"] for r in leaderboard(sweep_dir)] == ["yes", "", ""]


def test_a_baseline_outside_the_space_is_refused_naming_the_key(tmp_path) -> None:
    proc = run_sweep(
        tmp_path / "sweep",
        "x=interval(0.6,1)",
        "hydra.sweeper.baseline=true",
    )
    assert proc.returncode == 2, explain(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert "hydra.sweeper.baseline" in last and "x=0.5 lies outside" in last


def _rec(number: int, state: str, value: float | None, epochs: int | None, **kw) -> TrialRecord:
    return TrialRecord(number=number, state=state, params={}, value=value, epochs=epochs, **kw)


RECORDS = [
    _rec(0, COMPLETE, 0.40, 5, baseline=True, planned_epochs=5),
    _rec(1, PRUNED, 0.245, 2, planned_epochs=5),
    _rec(2, COMPLETE, 0.55, 5, planned_epochs=5),
    _rec(3, PRUNED, 0.30, 3, planned_epochs=5),
    _rec(4, COMPLETE, 0.55, None, duplicate_of=2),  # reused trial 2's value: trained nothing
    _rec(5, "FAIL", None, 1, planned_epochs=5),
]


def test_epochs_saved_count_pruned_trials_against_their_planned_epochs() -> None:
    savings = pruning_savings(RECORDS)
    assert (savings.run, savings.full, savings.saved) == (15, 20, 5)
    assert savings.line() == "pruning saved 5 of 20 epochs (25%): 15 run"
    rows = leaderboard_csv(RECORDS, "maximize").splitlines()
    header = rows[0].split(",")
    saved = {r.split(",")[1]: r.split(",")[header.index("epochs_saved")] for r in rows[1:]}
    assert saved == {"0": "0", "1": "3", "2": "0", "3": "2", "4": "0", "5": "0"}


def test_summary_puts_the_best_trial_against_the_baseline() -> None:
    line = best_against_baseline(RECORDS, "maximize")
    assert line is not None and line.startswith("best 0.55 (trial 2) against the baseline's 0.4")
    assert line.endswith("+0.15 better")
    text = format_leaderboard(RECORDS, "maximize", top=2)
    assert "0*" in text  # the baseline is listed although it is not in the top 2
    assert "pruning saved 5 of 20 epochs" in text
    assert best_against_baseline(RECORDS[1:], "maximize") is None


def test_an_interrupted_baseline_gives_way_to_its_rerun() -> None:
    records = [
        _rec(0, "INTERRUPTED", None, 2, baseline=True),
        _rec(1, COMPLETE, 0.5, 5),
        _rec(2, COMPLETE, 0.45, 5, baseline=True),
    ]
    line = best_against_baseline(records, "maximize")
    assert line is not None and "against the baseline's 0.45 (trial 2" in line
