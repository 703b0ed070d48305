"""The pruning benchmark's verdicts, from made-up summaries (the benchmark itself trains)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emotion_lab.bench import sweep as bench_module
from emotion_lab.bench.sweep import (
    PrunedStudy,
    PruningBench,
    SeedSpread,
    SweepSummary,
    _repeat_bests,
    _seed_spread,
    run_pruning_bench,
)


def _study(pruner: str, epochs: int, best: float, std: float) -> PrunedStudy:
    summary = SweepSummary(trials=16, pruned=0, epochs_run=epochs, best_value=best, wall_s=300)
    return PrunedStudy(pruner, summary, SeedSpread(3, best - 0.01, std))


def _bench(best_median: float, std: float) -> PruningBench:
    return PruningBench(
        pruned=(_study("median", 140, best_median, std), _study("asha", 200, 0.62, std / 4)),
        off=_study("none", 320, 0.62, std / 2),
        trials=16,
        epochs=20,
    )


def test_each_pruner_is_compared_with_the_unpruned_study_against_seed_noise() -> None:
    bench = _bench(best_median=0.60, std=0.015)
    median, asha = bench.pruned
    assert round(bench.epochs_ratio(median), 4) == 0.4375 and bench.noise(median) == 0.015
    assert bench.noise(asha) == 0.0075  # the larger of its own and pruner=none's std
    lines = bench.lines()
    assert lines[0].startswith("pruner=none: 16 trials")
    assert lines[2].startswith("pruner=median: ")
    assert "  epochs: 44% of pruner=none's (140 / 320; target <= 50%)" in lines
    assert "  epochs: 62% of pruner=none's (200 / 320; target <= 50%)" in lines
    assert lines[5].endswith("noise (larger seed std) 0.0150: within 2 std")
    assert lines[9].endswith("+0.0000; noise (larger seed std) 0.0075: within 2 std")
    assert _bench(best_median=0.55, std=0.015).lines()[5].endswith("NOT within 2 std")


def test_the_benchmark_needs_a_pruner_to_compare_with_none(monkeypatch, tmp_path) -> None:
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "default.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    for pruners in ((), ("none",), ("median", "none")):
        with pytest.raises(ValueError, match="--pruners"):
            run_pruning_bench(pruners=pruners)


def test_seed_spread_reads_the_objective_row_of_a_repeat_summary(tmp_path) -> None:
    (tmp_path / "summary.csv").write_text(
        "metric,n,mean,std,ci95_low,ci95_high\n"
        "objective,3,0.6,0.02,0.55,0.65\n"
        "test/acc,3,0.5,0.03,0.42,0.58\n"
    )
    assert _seed_spread(tmp_path) == SeedSpread(3, 0.6, 0.02)


def test_a_failed_repeat_is_reported_after_its_partner_has_finished(monkeypatch, tmp_path) -> None:
    started: list[subprocess.Popen[bytes]] = []

    def fake_repeat(overrides, seeds, run_dir):  # a failing training and a slower good one
        code = (
            "import sys; sys.exit('boom')"
            if "lr=bad" in overrides
            else "import time; time.sleep(1)"
        )
        with run_dir.with_name(f"{run_dir.name}.stderr").open("w") as err:  # as _repeat does
            job = subprocess.Popen([sys.executable, "-c", code], stderr=err)
        started.append(job)
        return job

    monkeypatch.setattr(bench_module, "_repeat", fake_repeat)
    bests = {"none": ("lr=bad",), "median": ("lr=good",)}
    with pytest.raises(RuntimeError, match="seed repeats of lr=bad failed:\nboom"):
        _repeat_bests(bests, (), 3, tmp_path)
    assert [job.returncode for job in started] == [1, 0]  # no training left running
