"""The real app under DDP with 2 gloo ranks on CPU: exact test metrics, ranks that agree, sweeps.

Every subprocess has a timeout, so a rank that hangs in a collective fails the test instead of
the suite.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pytest

from emotion_lab.viz.plots import read_metrics_csv
from tests.e2e.app_cli import run_module

pytestmark = pytest.mark.slow

DDP = ("experiment=smoke", "trainer=ddp", "trainer.devices=2")


def run_cli(
    module: str, *args: str, cwd: Path, timeout: float = 420
) -> subprocess.CompletedProcess[str]:
    return run_module(module, *args, cwd=cwd, timeout=timeout)


def logged_test_metrics(run_dir: Path) -> dict[str, float]:
    """Every test metric a run logged (rank 0's CSV log, full float precision)."""
    metrics: dict[str, float] = {}
    for row in read_metrics_csv(run_dir / "csv" / "metrics.csv"):
        metrics.update({k: v for k, v in row.items() if k.startswith("test/")})
    return metrics


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ddp")


@pytest.fixture(scope="module")
def ddp_run(workdir: Path) -> tuple[Path, subprocess.CompletedProcess]:
    run_dir = workdir / "train"
    proc = run_cli(
        "emotion_lab.train",
        *DDP,
        "logger=csv",
        "trainer.max_epochs=3",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.run.dir={run_dir}",
        cwd=workdir,
    )
    return run_dir, proc


def test_ddp_test_metrics_equal_a_single_process_evaluate(workdir: Path, ddp_run) -> None:
    run_dir, proc = ddp_run
    eval_dir = workdir / "evaluate"
    run_cli(
        "emotion_lab.evaluate",
        f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
        "logger=csv",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.run.dir={eval_dir}",
        cwd=workdir,
    )
    ddp, single = logged_test_metrics(run_dir), logged_test_metrics(eval_dir)
    assert json.loads((run_dir / "test_metrics.json").read_text())["metrics"] == ddp
    for key in ("test/acc", "test/f1", "test/auroc", "test/ari", "test/nmi", "test/asr_kmeans"):
        assert key in ddp, key
    assert ddp.keys() == single.keys()
    for key, value in single.items():
        # the loss is a float32 mean over other batchings: equal to float32 precision
        tolerance = {"rel": 1e-6} if key == "test/loss" else {"abs": 1e-6}
        assert ddp[key] == pytest.approx(value, **tolerance), key
    # every test sample once, in data-set order: the gathered outputs match one process's
    a = np.load(run_dir / "test_embeddings.npz")
    b = np.load(eval_dir / "test_embeddings.npz")
    test_size = int(re.search(r"(\d+) test\)", proc.stdout).group(1))  # type: ignore[union-attr]
    assert len(a["labels"]) == len(b["labels"]) == test_size  # no DistributedSampler padding
    np.testing.assert_array_equal(a["labels"], b["labels"])
    np.testing.assert_allclose(a["embeddings"], b["embeddings"], atol=1e-5)
    assert float(a["embeddings"].std(axis=0).max()) > 0  # real, varied embeddings were compared
    assert (run_dir / "figures" / "confusion_matrix.png").is_file()


def test_only_rank_zero_prints_the_summary(ddp_run) -> None:
    _, proc = ddp_run
    assert proc.stdout.count("emotion-lab run summary") == 1


def test_ranks_agree_with_beta_zero_plateau_schedule_and_early_stopping(workdir: Path) -> None:
    run_dir = workdir / "agree"
    probe_dir = workdir / "probe"
    run_cli(
        "emotion_lab.train",
        *DDP,  # the default loggers: W&B offline + CSV
        "loss.beta=0",  # centers without gradient: DDP must not wait for them
        "scheduler=reduce_on_plateau",
        "scheduler.scheduler.patience=0",
        "+scheduler.scheduler.threshold=0.5",  # any epoch short of -50 % loss is a plateau
        "callbacks.early_stopping.patience=2",
        "trainer.max_epochs=8",
        "data.batch_size=56",  # 1121 train images: 561 per rank, 561 % 56 == 1
        "trainer.limit_train_batches=null",
        "trainer.limit_val_batches=null",
        "+callbacks.probe._target_=tests.e2e.ddp_probe.RankProbe",
        f"+callbacks.probe.output_dir={probe_dir}",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.run.dir={run_dir}",
        cwd=workdir,
    )
    # one W&B run, rank 0's: the other rank's dummy experiment wrote nothing and did not crash
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    rank0 = json.loads((probe_dir / "rank0.json").read_text())
    rank1 = json.loads((probe_dir / "rank1.json").read_text())
    assert rank0["world_size"] == rank1["world_size"] == 2
    # one val/loss, one learning rate and one stopping epoch for both ranks
    assert rank0["epochs"] == rank1["epochs"]
    assert rank0["last_epoch"] == rank1["last_epoch"]
    assert len({e["lr"] for e in rank0["epochs"]}) > 1  # the plateau schedule did act
    assert rank0["rng"] != rank1["rng"]  # each rank draws its own augmentations
    assert min(rank0["min_train_batch"], rank1["min_train_batch"]) > 1  # no 1-sample batch


def test_ddp_trial_of_the_real_app_inside_an_optuna_sweep(workdir: Path) -> None:
    sweep_dir = workdir / "sweep"
    run_cli(
        "emotion_lab.train",
        "-m",
        *DDP,
        "logger=csv",
        "hydra/sweeper=optuna",
        "hydra/launcher=process",
        "hydra.launcher.gpus=none",
        "optimizer.lr=tag(log,interval(1e-3,3e-3))",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.study_name=ddp_trial",
        "callbacks.progress_bar=null",
        f"paths.data_dir={workdir / 'data'}",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=workdir,
        timeout=600,
    )
    study = optuna.load_study(
        study_name="ddp_trial", storage=f"sqlite:///{sweep_dir / 'optuna.db'}"
    )
    (trial,) = study.trials  # the extra rank joined the trial; it did not start a sweep
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [0, 1]  # rank 0 reported each epoch once
    with (sweep_dir / "0" / "csv" / "metrics.csv").open() as fh:
        val_acc = [float(r["val/acc"]) for r in csv.DictReader(fh) if r.get("val/acc")]
    assert trial.value == pytest.approx(max(val_acc))
    assert list(trial.intermediate_values.values()) == pytest.approx(val_acc)
