"""Hydra's sweeper test suite, in the style of ``hydra.test_utils``' BatchedSweeperTestSuite.

Hydra's own suite assumes a sweeper that returns one list of job returns per batch, in the
order of the grid; ours return one record per trial, propose in their own order and keep trials
in flight (Optuna) or in batches of ``n_jobs`` (Hyperopt). So the same scenarios run here, in
process through Hydra's ``hydra_sweep_runner`` fixture (which also resets Hydra's singletons
around every test), on Hydra's own test app and configs, with assertions about what every
sweeper must leave behind: the multirun config, one folder per trial with its overrides and
composed config, every value returned.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hydra.errors import HydraException
from hydra.test_utils.test_utils import TSweepRunner
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.emotion_lab_sweeper._report import COMPLETE

SWEEPERS = {
    "emotion_lab_optuna": ["hydra.sweeper.sampler=grid", "hydra.sweeper.pruner=none"],
    "emotion_lab_hyperopt": [],
}
JOB_OVERRIDES = ["group1=file1,file2", "bar=100,200,300"]
FOO = {"file1": 10, "file2": 20}  # Hydra's test configs: group1/<file>.yaml sets foo


def _sweep(runner: TSweepRunner, tmp_path: Path, overrides: list[str], task: Any = None) -> Any:
    return runner(
        calling_file=None,
        calling_module="hydra.test_utils.a_module",
        task_function=task,
        config_path="configs",
        config_name="compose.yaml",
        overrides=overrides,
        temp_dir=tmp_path / "sweep",
    )


def _trial_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


@pytest.mark.usefixtures("hydra_restore_singletons")
@pytest.mark.parametrize("sweeper", sorted(SWEEPERS))
class TestSweeperSuite:
    def test_sweep_1_job(self, hydra_sweep_runner: TSweepRunner, tmp_path, sweeper) -> None:
        overrides = [f"hydra/sweeper={sweeper}", *SWEEPERS[sweeper], "hydra.sweeper.n_trials=1"]
        with _sweep(hydra_sweep_runner, tmp_path, [*overrides, "bar=100,200"]) as sweep:
            assert [r.state for r in sweep.returns] == [COMPLETE]
            assert sweep.returns[0].value == 100  # what Hydra's test task returns
            (trial,) = _trial_dirs(Path(sweep.temp_dir))
            assert (trial / ".hydra" / "config.yaml").exists()

    @pytest.mark.parametrize("n_jobs", [1, 2])
    def test_sweep_6_jobs_in_batches(
        self, hydra_sweep_runner: TSweepRunner, tmp_path, sweeper, n_jobs
    ) -> None:
        overrides = [
            f"hydra/sweeper={sweeper}",
            *SWEEPERS[sweeper],
            "hydra.sweeper.n_trials=6",
            f"hydra.sweeper.n_jobs={n_jobs}",
            "hydra.sweeper.seed=0",
            *JOB_OVERRIDES,
        ]
        with _sweep(hydra_sweep_runner, tmp_path, overrides) as sweep:
            sweep_dir = Path(sweep.temp_dir)
            multirun = OmegaConf.load(sweep_dir / "multirun.yaml")
            assert list(multirun.hydra.overrides.task) == JOB_OVERRIDES
            assert multirun.hydra.sweeper.study_name.startswith("a_module-")  # named in setup
            records = sweep.returns
            assert [r.number for r in records] == list(range(6))
            assert all(r.state == COMPLETE and r.value == 100 for r in records)
            points = set()
            for trial in _trial_dirs(sweep_dir):
                task = OmegaConf.load(trial / ".hydra" / "overrides.yaml")
                cfg = OmegaConf.load(trial / ".hydra" / "config.yaml")
                group1 = next(o.split("=")[1] for o in task if o.startswith("group1="))
                bar = next(int(o.split("=")[1]) for o in task if o.startswith("bar="))
                assert (cfg.foo, cfg.bar) == (FOO[group1], bar)  # composed as its overrides say
                assert not any(o.startswith(("trial.", "+trial.", "++trial.")) for o in task)
                points.add((group1, bar))
            if sweeper == "emotion_lab_optuna":  # the grid: every point once
                assert len(points) == 6
            ran = [r.number for r in records if r.duplicate_of is None]  # a repeat reuses a value
            assert [int(p.name) for p in _trial_dirs(sweep_dir)] == ran  # one folder per job

    def test_not_sweeping_hydra_overrides(
        self, hydra_sweep_runner: TSweepRunner, tmp_path, sweeper
    ) -> None:
        overrides = [f"hydra/sweeper={sweeper}", "+a=0,1", "hydra.verbose=true,false"]
        message = re.escape(
            "Sweeping over Hydra's configuration is not supported : 'hydra.verbose=true,false'"
        )
        refused = pytest.raises(HydraException, match=message)  # Hydra's own check, first
        with refused, _sweep(hydra_sweep_runner, tmp_path, overrides):
            pass

    def test_task_value_and_plain_overrides_reach_every_trial(
        self, hydra_sweep_runner: TSweepRunner, tmp_path, sweeper
    ) -> None:
        def task(cfg: DictConfig) -> float:
            return float(cfg.bar) / 100 + (1.0 if cfg.foo == 20 else 0.0)

        overrides = [
            f"hydra/sweeper={sweeper}",
            *SWEEPERS[sweeper],
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.seed=1",
            "group1=file1,file2",
            "bar=100,200",
            "+fixed=7",  # not a sweep: every trial gets it as is
        ]
        with _sweep(hydra_sweep_runner, tmp_path, overrides, task) as sweep:
            sweep_dir = Path(sweep.temp_dir)
            for trial in _trial_dirs(sweep_dir):
                assert OmegaConf.load(trial / ".hydra" / "config.yaml").fixed == 7
            best = max(r.value for r in sweep.returns if r.duplicate_of is None)
            assert OmegaConf.load(sweep_dir / "best.yaml").value == best
