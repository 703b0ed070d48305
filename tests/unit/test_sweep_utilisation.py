"""The sweep utilisation figure: the zero-overhead schedule it is compared with."""

from __future__ import annotations

import pytest

from emotion_lab.bench.utilisation import Utilisation, zero_overhead_makespan


def test_zero_overhead_schedule_starts_each_trial_on_the_first_free_worker() -> None:
    # workers: [3] and [1, 1, 1 -> ends at 3]; the 5th trial (2 s) starts at 3
    assert zero_overhead_makespan([3, 1, 1, 1, 2], workers=2) == 5
    assert zero_overhead_makespan([4, 4, 4, 4], workers=4) == 4
    assert zero_overhead_makespan([1, 2], workers=1) == 3


def test_utilisation_is_work_over_workers_times_wall() -> None:
    u = Utilisation(
        trials=4, workers=2, busy_s=6.0, wall_s=4.0, bound_wall_s=3.0, overhead_s=0.5,
        command_s=9.0,
    )  # fmt: skip
    assert u.share == pytest.approx(0.75) and u.bound == pytest.approx(1.0)
    assert u.lines()[0].startswith("worker utilisation: 75.0% (zero-overhead bound")


@pytest.mark.slow
def test_the_sleep_sweep_runs_and_stays_under_its_bound() -> None:
    """The benchmark's own sweep, through the app's Optuna binding: every trial completes, and
    the measured share cannot beat the zero-overhead schedule of the same trials."""
    from emotion_lab.bench.utilisation import run_utilisation

    u = run_utilisation(trials=4, n_jobs=2)
    assert u.trials == 4 and u.workers == 2
    assert 4.0 <= u.busy_s <= 40.0  # four sleeps of 1-10 s
    assert 0.0 < u.share <= u.bound + 1e-9 <= 1.0 + 1e-9
    assert u.overhead_s > 0.0
