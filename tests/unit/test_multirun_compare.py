"""The Hydra callback that ends a multirun with the comparison table over its jobs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from emotion_lab.comparison.after_multirun import CompareAfterMultirun, wandb_mode
from tests.unit.test_compare import make_run


def _config(sweep_dir: Path, logger: dict | None = None):
    return OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}, "logger": logger or {}})


def test_the_multirun_folder_gets_its_comparison(tmp_path: Path) -> None:
    for job, (beta, acc) in enumerate(((0.0, 0.8), (0.5, 0.9))):
        make_run(tmp_path / str(job), beta=beta, seed=1, metrics={"test/acc": acc, "test/f1": acc})
    CompareAfterMultirun().on_multirun_end(_config(tmp_path))
    table = (tmp_path / "compare" / "compare.csv").read_text()
    assert "loss.beta=0.5" in table and "test/f1" in table


def test_a_multirun_without_finished_jobs_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "0").mkdir()  # a job that failed before testing
    with caplog.at_level(logging.WARNING):
        CompareAfterMultirun().on_multirun_end(_config(tmp_path))
    assert "no comparison of the multirun's jobs" in caplog.text
    assert not (tmp_path / "compare").exists()


def test_turned_off_it_writes_nothing(tmp_path: Path) -> None:
    make_run(tmp_path / "0", beta=0.0, seed=1, metrics={"test/acc": 0.8})
    CompareAfterMultirun(enabled=False).on_multirun_end(_config(tmp_path))
    assert not (tmp_path / "compare").exists()


def test_wandb_follows_the_runs_logger() -> None:
    assert wandb_mode(_config(Path("."), {"csv": {}})) == "disabled"
    assert wandb_mode(_config(Path("."), {"wandb": {"offline": True}})) == "offline"
    assert wandb_mode(_config(Path("."), {"wandb": {"offline": False}})) == "online"
