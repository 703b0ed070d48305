"""A grid study visits every point exactly once: any seed, parallel trials, workers, resume."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest

from tests.fixtures_sweep.runner import explain, run_sweep, start_sweep

X = (0.1, 0.2, 0.3, 0.4, 0.5)
Y = (0.0, 1.0, 2.0)
GRID = {(x, y) for x, y in itertools.product(X, Y)}
SPACE = ("x=" + ",".join(map(str, X)), "y=" + ",".join(map(str, Y)), "hydra.sweeper.sampler=grid")


def _points(sweep_dir: Path) -> list[tuple[float, float]]:
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    study = optuna.load_study(study_name="grid", storage=storage)
    done = [t for t in study.trials if t.state.is_finished() and t.state.name != "FAIL"]
    return [(t.params["x"], t.params["y"]) for t in done]


def _assert_whole_grid_once(sweep_dir: Path) -> None:
    points = _points(sweep_dir)
    assert len(points) == len(GRID) and set(points) == GRID, sorted(points)


@pytest.mark.parametrize("seed", ["42", "7", "null"])
def test_every_point_once_whatever_the_seed(tmp_path: Path, seed: str) -> None:
    proc = run_sweep(
        tmp_path / "s", *SPACE, f"hydra.sweeper.seed={seed}",
        f"hydra.sweeper.n_trials={len(GRID)}", "hydra.sweeper.study_name=grid",
    )  # fmt: skip
    assert proc.returncode == 0, explain(proc)
    _assert_whole_grid_once(tmp_path / "s")


def test_every_point_once_with_parallel_trials(tmp_path: Path) -> None:
    proc = run_sweep(
        tmp_path / "s", *SPACE, "hydra.sweeper.n_jobs=3", "hydra/launcher=process",
        "hydra.launcher.gpus=none", f"hydra.sweeper.n_trials={len(GRID)}",
        "hydra.sweeper.study_name=grid",
    )  # fmt: skip
    assert proc.returncode == 0, explain(proc)
    _assert_whole_grid_once(tmp_path / "s")


@pytest.mark.slow
def test_every_point_once_with_two_workers_on_one_study(tmp_path: Path) -> None:
    args = (*SPACE, f"hydra.sweeper.n_trials={len(GRID)}", "hydra.sweeper.study_name=grid")
    workers = [start_sweep(tmp_path / "s", *args, "sleep_s=0.05") for _ in range(2)]
    for worker in workers:
        out, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, out[-3000:]
    _assert_whole_grid_once(tmp_path / "s")


def test_every_point_once_after_a_resume(tmp_path: Path) -> None:
    first = run_sweep(
        tmp_path / "s", *SPACE, "hydra.sweeper.n_trials=6", "hydra.sweeper.study_name=grid"
    )
    assert first.returncode == 0, explain(first)
    assert len(set(_points(tmp_path / "s"))) == 6
    resumed = run_sweep(
        tmp_path / "s", *SPACE, f"hydra.sweeper.n_trials={len(GRID)}",
        "hydra.sweeper.study_name=grid",
    )  # fmt: skip
    assert resumed.returncode == 0, explain(resumed)
    _assert_whole_grid_once(tmp_path / "s")
