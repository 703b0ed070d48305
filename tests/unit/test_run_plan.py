"""The run plan: which runs folds × seeds make, and the config each of them gets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from emotion_lab.app.config import compose_config
from emotion_lab.run.plan import (
    PlannedRun,
    aggregate_objective,
    plan_runs,
    repeat_seeds,
    run_config,
)


def _cfg(tmp_path: Path, *overrides: str):
    return compose_config("train", ["experiment=smoke", *overrides], output_dir=str(tmp_path))


def test_a_count_of_seeds_counts_up_from_the_seed_and_a_list_is_taken_as_given(
    tmp_path: Path,
) -> None:
    assert repeat_seeds(_cfg(tmp_path)) is None
    assert repeat_seeds(_cfg(tmp_path, "repeat.seeds=3", "seed=7")) == [7, 8, 9]
    assert repeat_seeds(_cfg(tmp_path, "repeat.seeds=[5,1,9]")) == [5, 1, 9]


@pytest.mark.parametrize("bad", ["0", "[1,1]", "[]", "true"])
def test_bad_seed_lists_are_refused_naming_the_key(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="repeat.seeds must be"):
        repeat_seeds(_cfg(tmp_path, f"repeat.seeds={bad}"))


def test_folds_times_seeds_with_folds_outermost(tmp_path: Path) -> None:
    runs = plan_runs(_cfg(tmp_path, "cv.folds=2", "repeat.seeds=[3,4]"))
    assert runs == [PlannedRun(0, 3), PlannedRun(0, 4), PlannedRun(1, 3), PlannedRun(1, 4)]
    assert plan_runs(_cfg(tmp_path, "seed=11")) == [PlannedRun(None, 11)]
    with pytest.raises(ValueError, match=r"cv.folds=1: must be >= 2"):
        plan_runs(_cfg(tmp_path, "cv.folds=1"))


def test_a_seed_run_gets_its_seed_folder_and_wandb_name_but_keeps_the_split(
    tmp_path: Path,
) -> None:
    cfg = _cfg(tmp_path, "repeat.seeds=2", "data.split_seed=5")
    sub = run_config(cfg, PlannedRun(None, 43), group="g")
    assert sub.seed == 43
    assert sub.callbacks.analysis.seed == 43  # everything that interpolates ${seed} follows
    assert sub.paths.output_dir == str(tmp_path / "seed_43")
    assert sub.callbacks.model_checkpoint.dirpath == str(tmp_path / "seed_43" / "checkpoints")
    assert sub.logger.csv.save_dir == str(tmp_path / "seed_43")
    assert (sub.logger.wandb.group, sub.logger.wandb.name) == ("g", "vire_cnn-s43")
    assert sub.data.split_seed == 5 and sub.repeat.seeds is None and sub.cv.folds is None


def test_resplit_draws_the_split_from_the_seed_and_folds_nest_seeds(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "repeat.seeds=2", "repeat.resplit=true", "cv.folds=3")
    sub = run_config(cfg, PlannedRun(2, 44), group="g")
    assert sub.data.split_seed == 44
    assert (sub.data.fold, sub.data.num_folds) == (2, 3)
    assert sub.paths.output_dir == str(tmp_path / "fold_2" / "seed_44")
    assert sub.logger.wandb.name == "vire_cnn-fold2-s44"


def test_the_returned_value_aggregates_the_runs_in_the_objective_direction() -> None:
    values = [0.8, 0.7, 0.9, 0.6]
    assert aggregate_objective(values, "mean", "maximize") == pytest.approx(0.75)
    assert aggregate_objective(values, "median", "maximize") == pytest.approx(0.75)
    assert aggregate_objective(values, "worst", "maximize") == 0.6
    assert aggregate_objective(values, "worst", "minimize") == 0.9
    assert math.isnan(aggregate_objective([0.8, math.nan], "mean", "maximize"))
    with pytest.raises(ValueError, match="objective.aggregate must be one of"):
        aggregate_objective(values, "max", "maximize")
