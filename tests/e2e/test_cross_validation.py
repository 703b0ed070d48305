"""Stratified k-fold cross-validation (cv.folds) through the run plan: folds, runs, aggregate."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from emotion_lab.app.config import compose_config
from emotion_lab.run.builders import build_datamodule
from emotion_lab.run.plan import execute, fold_config

pytestmark = pytest.mark.slow

SMOKE = ["experiment=smoke", "data.source.n=700", "trainer.max_epochs=1"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def _rows(images) -> set[bytes]:
    return {bytes(img.numpy().tobytes()) for img in images}


def test_folds_partition_train_and_val_and_keep_class_shares(data_dir: Path) -> None:
    folds = 3
    tests, sizes = [], []
    for k in range(folds):
        cfg = compose_config(
            "train",
            [*SMOKE, f"paths.data_dir={data_dir}", f"data.fold={k}", f"data.num_folds={folds}"],
        )
        dm = build_datamodule(cfg)
        tests.append(dm.splits["test"])
        sizes.append(sum(len(dm.splits[s]) for s in ("train", "val", "test")))
    pool = sizes[0]
    assert sizes == [pool] * folds  # every fold sees the whole train+val pool
    assert sum(len(t) for t in tests) == pool  # the test folds cover it ...
    seen = [_rows(t.images) for t in tests]
    assert sum(len(s) for s in seen) == len(set().union(*seen))  # ... without overlap
    shares = [np.bincount(t.labels.numpy(), minlength=7) / len(t) for t in tests]
    assert np.abs(shares[0] - shares[1]).max() < 0.02  # stratified


def test_fold_config_gives_each_fold_its_folder_and_one_wandb_group(tmp_path: Path) -> None:
    cfg = compose_config("train", [*SMOKE, "cv.folds=2"], output_dir=str(tmp_path))
    fold = fold_config(cfg, 1, 2, group="g")
    assert fold.data.fold == 1 and fold.data.num_folds == 2 and fold.cv.folds is None
    assert fold.paths.output_dir == str(tmp_path / "fold_1")
    assert fold.callbacks.model_checkpoint.dirpath == str(tmp_path / "fold_1" / "checkpoints")
    assert fold.logger.wandb.save_dir == str(tmp_path / "fold_1")
    assert (fold.logger.wandb.group, fold.logger.wandb.name) == (
        "g",
        f"{fold.model.name}-fold1-s{fold.seed}",
    )


def test_cross_validate_runs_every_fold_and_reports_mean_and_std(
    data_dir: Path, tmp_path: Path
) -> None:
    cfg = compose_config(
        "train", [*SMOKE, "cv.folds=2", f"paths.data_dir={data_dir}"], output_dir=str(tmp_path)
    )
    mean_objective = execute(cfg)

    for k in range(2):
        assert (tmp_path / f"fold_{k}" / "checkpoints" / "best.ckpt").is_file()
        assert list((tmp_path / f"fold_{k}" / "wandb").glob("offline-run-*"))
    with (tmp_path / "cv_results.csv").open() as fh:
        rows = {r["metric"]: r for r in csv.DictReader(fh)}
    for metric in ("objective", "test/acc", "test/f1", "test/ari"):
        per_fold = [float(rows[metric][f"fold_{k}"]) for k in range(2)]
        assert float(rows[metric]["mean"]) == pytest.approx(statistics.fmean(per_fold))
        assert float(rows[metric]["std"]) == pytest.approx(statistics.stdev(per_fold))
    assert math.isfinite(mean_objective)
    assert mean_objective == pytest.approx(float(rows["objective"]["mean"]))


def test_one_fold_is_refused(tmp_path: Path) -> None:
    cfg = compose_config("train", [*SMOKE, "cv.folds=1"], output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="cv.folds=1: must be >= 2"):
        execute(cfg)
