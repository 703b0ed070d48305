"""The pruning benchmark's verdicts, from made-up summaries (the benchmark itself trains)."""

from __future__ import annotations

from emotion_lab.sweep.bench import PruningBench, SeedSpread, SweepSummary, _seed_spread


def _bench(best_on: float, std: float) -> PruningBench:
    return PruningBench(
        on=SweepSummary(trials=16, pruned=9, epochs_run=140, best_value=best_on, wall_s=300),
        off=SweepSummary(trials=16, pruned=0, epochs_run=320, best_value=0.62, wall_s=660),
        on_repeats=SeedSpread(3, 0.60, std),
        off_repeats=SeedSpread(3, 0.61, std / 2),
        trials=16,
        epochs=20,
    )


def test_pruning_bench_compares_epochs_and_best_values_against_seed_noise() -> None:
    bench = _bench(best_on=0.60, std=0.015)
    assert round(bench.epochs_ratio, 4) == 0.4375 and bench.noise == 0.015
    lines = bench.lines()
    assert lines[2] == "epochs with pruning: 44% of without (140 / 320; target <= 50%)"
    assert lines[-1].endswith("noise (larger seed std) 0.0150: within 2 std")
    assert _bench(best_on=0.55, std=0.015).lines()[-1].endswith("NOT within 2 std")


def test_seed_spread_reads_the_objective_row_of_a_repeat_summary(tmp_path) -> None:
    (tmp_path / "summary.csv").write_text(
        "metric,n,mean,std,ci95_low,ci95_high\n"
        "objective,3,0.6,0.02,0.55,0.65\n"
        "test/acc,3,0.5,0.03,0.42,0.58\n"
    )
    assert _seed_spread(tmp_path) == SeedSpread(3, 0.6, 0.02)
