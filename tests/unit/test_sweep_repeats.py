"""Seed-repeat trials: the leaderboards show each trial's runs as mean ± 95 % t-interval."""

from __future__ import annotations

import csv
import io
import pickle
import statistics

import pytest
from scipy import stats as sps

from hydra_plugins.emotion_lab_sweeper._report import (
    COMPLETE,
    PRUNED,
    TrialRecord,
    format_leaderboard,
    leaderboard_csv,
)
from hydra_plugins.emotion_lab_sweeper.contract import RepeatedValue
from tests.fixtures_sweep.runner import best, explain, leaderboard, run_sweep

RUNS = [0.61, 0.64, 0.58]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_repeated_trial_shows_mean_and_t_interval_of_its_runs() -> None:
    records = [
        TrialRecord(0, COMPLETE, {"x": 0.1}, value=statistics.fmean(RUNS), samples=RUNS),
        TrialRecord(1, PRUNED, {"x": 0.9}, value=0.3),  # pruned: no runs to summarise
    ]
    rows = _rows(leaderboard_csv(records, "maximize"))
    mean = statistics.fmean(RUNS)
    half = sps.t.ppf(0.975, 2) * statistics.stdev(RUNS) / 3**0.5
    assert rows[0]["runs"] == "3"
    assert float(rows[0]["mean"]) == pytest.approx(mean)
    assert float(rows[0]["ci95_low"]) == pytest.approx(mean - half)
    assert float(rows[0]["ci95_high"]) == pytest.approx(mean + half)
    assert rows[1]["runs"] == rows[1]["mean"] == rows[1]["ci95_low"] == ""
    console = format_leaderboard(records, "maximize")
    assert "mean ± 95% CI (n)" in console
    assert f"{mean:.4g} ± {half:.2g} (n=3)" in console


def test_studies_without_repeats_keep_their_columns() -> None:
    records = [TrialRecord(0, COMPLETE, {"x": 0.1}, value=0.5)]
    assert "ci95_low" not in leaderboard_csv(records, "maximize").splitlines()[0]
    assert "CI" not in format_leaderboard(records, "maximize")


def test_a_repeated_value_is_a_float_that_keeps_its_runs_across_processes() -> None:
    value = pickle.loads(pickle.dumps(RepeatedValue(0.61, RUNS)))
    assert value == 0.61 and isinstance(value, float)
    assert value.samples == tuple(RUNS)


@pytest.mark.parametrize(
    ("sweeper", "extra"),
    [
        ("optuna", ("hydra.sweeper.n_jobs=2",)),  # the runs come back from a job process
        ("hyperopt", ()),
    ],
)
def test_a_sweep_of_repeated_trials_reports_their_spread(tmp_path, sweeper, extra) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(
        sweep_dir,
        "x=interval(0,1)",
        "repeats=3",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.pruner=none",
        *extra,
        sweeper=sweeper,
    )
    assert proc.returncode == 0, explain(proc)
    rows = leaderboard(sweep_dir)
    assert len(rows) == 3 and all(r["state"] == COMPLETE for r in rows)
    for r in rows:
        assert r["runs"] == "3"
        assert float(r["mean"]) == pytest.approx(float(r["value"]))  # objective.aggregate=mean
        assert float(r["ci95_low"]) < float(r["mean"]) < float(r["ci95_high"])
    top = best(sweep_dir)
    assert top["runs"]["n"] == 3 and top["runs"]["ci95"][0] < top["value"]
    assert "± " in proc.stdout and "(n=3)" in proc.stdout
    assert top["runs"]["mean"] == pytest.approx(top["value"])
