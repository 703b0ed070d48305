"""Seed-repeat trials: the leaderboards show each trial's runs as mean ± the 95 % t-interval that
the app computed and handed over in its RepeatedValue (the plugin derives none)."""

from __future__ import annotations

import csv
import io
import math
import pickle
import statistics
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from scipy import stats as sps

from hydra_plugins.emotion_lab_sweeper._report import (
    COMPLETE,
    PRUNED,
    TrialRecord,
    format_leaderboard,
    leaderboard_csv,
    write_reports,
)
from hydra_plugins.emotion_lab_sweeper.contract import RepeatedValue
from tests.fixtures_sweep.app import repeat_offsets
from tests.fixtures_sweep.runner import best, explain, leaderboard, run_sweep

RUNS = [0.61, 0.64, 0.58]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _half_width(runs: Sequence[float]) -> float:
    """Half the 95 % Student-t interval, from scipy: the reference the app's numbers must meet."""
    return sps.t.ppf(0.975, len(runs) - 1) * statistics.stdev(runs) / math.sqrt(len(runs))


def test_a_repeated_trial_shows_mean_and_the_apps_t_interval_of_its_runs() -> None:
    mean, half = statistics.fmean(RUNS), _half_width(RUNS)
    records = [
        TrialRecord(
            0, COMPLETE, {"x": 0.1}, value=mean, samples=RUNS, ci95=(mean - half, mean + half)
        ),
        TrialRecord(1, PRUNED, {"x": 0.9}, value=0.3),  # pruned: no runs to summarise
    ]
    rows = _rows(leaderboard_csv(records, "maximize"))
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


def test_runs_without_an_interval_show_the_bare_mean_and_empty_interval_cells(
    tmp_path: Path,
) -> None:
    """The plugin computes no interval: none handed over, none shown (but n, mean and std)."""
    mean = statistics.fmean(RUNS)
    records = [TrialRecord(0, COMPLETE, {"x": 0.1}, value=mean, samples=RUNS)]
    (row,) = _rows(leaderboard_csv(records, "maximize"))
    assert row["runs"] == "3" and float(row["mean"]) == pytest.approx(mean)
    assert row["ci95_low"] == row["ci95_high"] == ""
    row_line = format_leaderboard(records, "maximize").splitlines()[2]  # under the header
    assert f"  {mean:.4g} (n=3)  " in row_line and "±" not in row_line
    write_reports(
        tmp_path, records, direction="maximize", study_name="s", sweeper="t", rerun_command=["x"]
    )
    runs = yaml.safe_load((tmp_path / "best.yaml").read_text())["runs"]
    assert runs["n"] == 3 and runs["std"] == pytest.approx(statistics.stdev(RUNS))
    assert all(math.isnan(b) for b in runs["ci95"])


def test_a_repeated_value_is_a_float_that_keeps_its_runs_and_interval_across_processes() -> None:
    value = pickle.loads(pickle.dumps(RepeatedValue(0.61, RUNS, ci95=(0.5, 0.7))))
    assert value == 0.61 and isinstance(value, float)
    assert value.samples == tuple(RUNS) and value.ci95 == (0.5, 0.7)
    bare = pickle.loads(pickle.dumps(RepeatedValue(0.61, RUNS)))
    assert bare.samples == tuple(RUNS) and bare.ci95 is None


def test_an_interval_that_is_not_a_pair_is_refused() -> None:
    with pytest.raises(ValueError, match="ci95: expected"):
        RepeatedValue(0.61, RUNS, ci95=(0.5,))


def test_the_app_hands_over_the_t_interval_of_its_seed_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_plan.execute`` with repeat.seeds gives the interval of the runs' objectives."""
    from emotion_lab.app.config import compose_config
    from emotion_lab.run import plan as run_plan
    from emotion_lab.run.fit import RunResult

    results = iter(RunResult(objective=v) for v in RUNS)
    monkeypatch.setattr(run_plan, "fit_and_test", lambda cfg, summary=True: next(results))
    cfg = compose_config("train", ["experiment=smoke", "repeat.seeds=3"], output_dir=str(tmp_path))
    value = run_plan.execute(cfg)
    mean, half = statistics.fmean(RUNS), _half_width(RUNS)
    # not isinstance: Hydra's plugin scan during composition re-executes the contract module
    assert type(value).__name__ == "RepeatedValue" and value.samples == tuple(RUNS)
    assert value.ci95 == pytest.approx((mean - half, mean + half))


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
    half = _half_width(repeat_offsets(3))  # the fixture's runs: known offsets around a value
    for r in rows:
        assert r["runs"] == "3"
        assert float(r["mean"]) == pytest.approx(float(r["value"]))  # objective.aggregate=mean
        assert float(r["ci95_low"]) == pytest.approx(float(r["mean"]) - half)
        assert float(r["ci95_high"]) == pytest.approx(float(r["mean"]) + half)
    top = best(sweep_dir)
    assert top["runs"]["n"] == 3 and top["runs"]["ci95"][0] < top["value"]
    assert "± " in proc.stdout and "(n=3)" in proc.stdout
    assert top["runs"]["mean"] == pytest.approx(top["value"])
