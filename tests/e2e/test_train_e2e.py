"""Train for a few steps through the real CLI and check what a run leaves behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from tests.e2e.app_cli import run_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def smoke_run(workdir: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    run_dir = workdir / "run1"
    result = run_module(
        "emotion_lab.train",
        "experiment=smoke",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.run.dir={run_dir}",
        cwd=workdir,
    )
    return run_dir, result


def test_run_leaves_checkpoint_metrics_wandb_and_report(smoke_run):
    run_dir, result = smoke_run
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    metrics = (run_dir / "csv" / "metrics.csv").read_text()
    assert "val/acc" in metrics and "train/intra" in metrics and "test/acc" in metrics
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1 and any(offline_runs[0].glob("run-*.wandb"))
    report = (run_dir / "report.md").read_text()
    assert "confusion_matrix.png" in report and "ari" in report
    assert (run_dir / "figures" / "confusion_matrix.png").stat().st_size > 1000
    assert (run_dir / "figures" / "center_distances.png").is_file()
    assert "test/acc" in result.stdout and "run folder" in result.stdout


def test_checkpoint_carries_config_and_centers(smoke_run):
    run_dir, _ = smoke_run
    checkpoint = torch.load(
        run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )
    assert checkpoint["emotion_lab"]["config"]["model"]["name"] == "vire_cnn"
    assert checkpoint["emotion_lab"]["classes"][3] == "happy"
    assert "loss.center.centers" in checkpoint["state_dict"]


def test_same_seed_same_metrics(smoke_run, workdir):
    run_dir, _ = smoke_run
    again = workdir / "run2"
    run_module(
        "emotion_lab.train",
        "experiment=smoke",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.run.dir={again}",
        "logger=csv",
        cwd=workdir,
    )

    def last_test_row(path: Path) -> str:
        rows = [r for r in (path / "csv" / "metrics.csv").read_text().splitlines() if r]
        header = rows[0].split(",")
        values = [dict(zip(header, r.split(","), strict=False)) for r in rows[1:]]
        return json.dumps([v["test/acc"] for v in values if v.get("test/acc")])

    assert last_test_row(run_dir) == last_test_row(again)


def test_evaluate_reproduces_test_accuracy(smoke_run, workdir):
    run_dir, train_result = smoke_run
    result = run_module(
        "emotion_lab.evaluate",
        f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
        f"hydra.run.dir={workdir / 'eval'}",
        "logger=csv",
        "callbacks.analysis.umap=false",
        cwd=workdir,
    )
    assert (workdir / "eval" / "report.md").is_file()
    assert "test/acc" in result.stdout


def test_multirun_gives_each_job_its_own_grouped_wandb_run(workdir):
    sweep_dir = workdir / "multi"
    run_module(
        "emotion_lab.train",
        "-m",
        "experiment=smoke",
        "optimizer.lr=0.01,0.001",
        "test=false",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=workdir,
    )
    runs = sorted(sweep_dir.glob("*/wandb/offline-run-*"))
    assert len(runs) == 2 and runs[0].name != runs[1].name
    for run in runs:
        record = next(run.glob("run-*.wandb")).read_bytes()
        assert b"train-multi" in record  # the W&B group: task name + multirun folder


def test_bad_config_value_is_one_line(workdir):
    result = run_module(
        "emotion_lab.train",
        "experiment=smoke",
        "data.batch_size=0",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.run.dir={workdir / 'bad'}",
        cwd=workdir,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert lines == ["error: data.batch_size=0: must be >= 1"]
