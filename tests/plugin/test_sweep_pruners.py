"""Pruning rules on scripted learning curves (no training): floor, median ties, ASHA."""

from __future__ import annotations

from collections.abc import Sequence

import optuna
import pytest
from optuna.trial import TrialState

from hydra_plugins.emotion_lab_sweeper._optuna_algos import FloorPruner, MedianPruner, build_pruner

optuna.logging.set_verbosity(optuna.logging.WARNING)

CHANCE = 0.245  # majority class of the synthetic set


def _study(pruner: optuna.pruners.BasePruner, direction: str = "maximize") -> optuna.Study:
    return optuna.create_study(direction=direction, pruner=pruner)


def _run(study: optuna.Study, curve: Sequence[float]) -> int | None:
    """Report ``curve`` step by step; the step it was pruned at, or None if it completed."""
    trial = study.ask()
    for step, value in enumerate(curve):
        trial.report(value, step)
        if trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return step
    study.tell(trial, curve[-1])
    return None


def _complete(study: optuna.Study, *curves: Sequence[float]) -> None:
    for curve in curves:
        assert _run(study, curve) is None


MEDIAN = {
    "_target_": "hydra_plugins.emotion_lab_sweeper.MedianPruner",
    "n_startup_trials": 4,
    "n_warmup_steps": 1,
}
NOP = {"_target_": "optuna.pruners.NopPruner"}
FLOOR = {"floor": 0.26, "grace": 2}


def test_floor_prunes_a_trial_stuck_at_chance_after_the_grace_period() -> None:
    study = _study(build_pruner(MEDIAN, **FLOOR))
    # the very first trial: no completed trial is needed for the floor rule
    assert _run(study, [CHANCE, CHANCE, CHANCE, CHANCE]) == 1  # 2nd report = end of grace
    assert _run(study, [0.26, 0.2, 0.25]) == 1  # reaching the floor exactly is not above it


def test_floor_keeps_a_trial_that_climbs() -> None:
    study = _study(build_pruner(MEDIAN, **FLOOR))
    assert _run(study, [CHANCE, 0.31, 0.45, 0.6]) is None
    assert _run(study, [0.3, CHANCE, CHANCE, CHANCE]) is None  # above the floor once: median's


def test_floor_follows_the_direction() -> None:
    study = _study(FloorPruner(optuna.pruners.NopPruner(), floor=1.9, grace=1), "minimize")
    assert _run(study, [1.95, 1.2]) == 0  # a loss still at the floor
    assert _run(study, [1.5, 1.4]) is None


def test_pruner_none_switches_the_floor_off_too() -> None:
    study = _study(build_pruner(NOP, **FLOOR))
    assert _run(study, [CHANCE, CHANCE, CHANCE]) is None


@pytest.mark.parametrize(
    ("node", "floor", "message"),
    [
        (MEDIAN, {"floor": "low"}, "hydra.sweeper.floor: floor must be a number"),
        (MEDIAN, {"floor": 0.26, "grace": 0}, "grace must be a positive integer"),
        (
            {**MEDIAN, "n_startup_trial": 4},
            {},
            r"hydra.sweeper.pruner_kwargs \(.*MedianPruner\).*n_startup_trial",
        ),
        ({"_target_": "optuna.samplers.TPESampler"}, {}, "hydra.sweeper.pruner: .* is not a"),
        ({"_target_": "no.such.Pruner"}, {}, "hydra.sweeper.pruner: cannot import"),
    ],
)
def test_bad_pruner_options_name_the_key(node: dict, floor: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_pruner(node, **floor)


def test_a_tie_at_the_median_counts_as_not_better() -> None:
    """Optuna's MedianPruner keeps a trial equal to the median; ours prunes it."""
    ours = _study(MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    theirs = _study(optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    stuck = [CHANCE, CHANCE, CHANCE]
    for study in (ours, theirs):
        _complete(study, stuck, stuck, [0.3, 0.5, 0.7])  # median at every step: CHANCE
    assert _run(theirs, stuck) is None
    assert _run(ours, stuck) == 1  # judged from step n_warmup_steps on
    assert _run(ours, [CHANCE, 0.25, 0.3]) is None  # strictly better than the median


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    study = _study(MedianPruner(n_startup_trials=2))
    _complete(study, [0.2], [0.4])  # median 0.3
    assert _run(study, [0.3]) == 0
    assert _run(study, [0.31]) is None


def test_median_waits_for_its_start_up_trials() -> None:
    study = _study(MedianPruner(n_startup_trials=2))
    _complete(study, [0.9])
    assert _run(study, [0.1]) is None  # one completed trial: not judged yet


def test_asha_prunes_the_worse_curve_and_keeps_the_best() -> None:
    asha = {"_target_": "optuna.pruners.SuccessiveHalvingPruner", "min_resource": 1}
    study = _study(build_pruner({**asha, "reduction_factor": 3}))
    assert _run(study, [0.5, 0.6, 0.7]) is None
    assert _run(study, [0.3, 0.35, 0.4]) is not None
