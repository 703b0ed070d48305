"""Every experiment of conf/experiment, shrunk to a few steps on the built-in data, must train,
test and log on CPU.

Each keeps its own model, loss, optimizer, schedule, augmentation, sampler and input size and
channels; only the data set (swapped for the generated faces, resized by the DataModule to what the
model asks for), the step counts and the batch sizes shrink.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from emotion_lab.app.config import CONFIG_DIR, compose_config
from emotion_lab.run.fit import fit_and_test

pytestmark = pytest.mark.slow

EXPERIMENTS = sorted(
    p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml") if not p.stem.endswith("_common")
)
SHRINK = [
    "data=synthetic",
    "data.source.n=700",
    "data.batch_size=4",
    "data.eval_batch_size=16",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "callbacks.analysis.umap=false",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def test_every_system_has_experiments() -> None:
    for system in ("s000", "s001", "s002", "s003", "s004"):
        assert any(name.startswith(system) for name in EXPERIMENTS), system


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_trains_tests_and_logs(experiment: str, data_dir: Path, tmp_path: Path) -> None:
    cfg = compose_config(
        "train",
        [f"experiment={experiment}", *SHRINK, f"paths.data_dir={data_dir}"],
        output_dir=str(tmp_path),
    )
    if cfg.model.get("pretrained"):  # no hub here; the offline message is a unit test
        cfg.model.pretrained = False
    result = fit_and_test(cfg, summary=False)

    assert math.isfinite(result.objective)
    assert 0.0 <= result.test_metrics["test/acc"] <= 1.0
    assert list(tmp_path.glob("checkpoints/*.ckpt")), "no checkpoint written"
    (metrics_csv,) = tmp_path.glob("**/metrics.csv")
    with metrics_csv.open() as fh:
        columns = next(csv.reader(fh))
    assert {"train/loss", "val/acc", "test/acc"} <= set(columns)
    assert list(tmp_path.glob("wandb/offline-run-*")), "no offline W&B run"
