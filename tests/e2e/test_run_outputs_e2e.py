"""A smoke run's console, train.log, file permissions and report.md, through the real command."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tests.e2e.app_cli import run_module

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("outputs")
    run_dir = work / "run"
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    env.pop("WANDB_SILENT", None)  # the console as a user sees it (W&B kept quiet by our config)
    env.pop("WANDB_QUIET", None)
    result = run_module(
        "emotion_lab.train",
        "experiment=smoke",
        f"paths.data_dir={work / 'data'}",
        f"hydra.run.dir={run_dir}",
        cwd=work,
        env=env,
        timeout=600,
    )
    return run_dir, result.stdout + result.stderr


def test_train_log_holds_lightnings_records_and_ours(smoke: tuple[Path, str]) -> None:
    log = (smoke[0] / "train.log").read_text()
    assert "[lightning.pytorch.utilities.rank_zero][INFO] - GPU available:" in log
    assert "`Trainer.fit` stopped: `max_epochs=2` reached." in log
    assert "[emotion_lab.callbacks.model_summary][INFO] - model VireCNN" in log
    assert "Seed set to 42" in log
    assert "litlogger" not in log


def test_console_skips_the_noise_and_shows_the_training_loss(smoke: tuple[Path, str]) -> None:
    console = smoke[1]
    for noise in ("litlogger", "FLOPs", "Tracking run with wandb", "Run history", "TPU available"):
        assert noise not in console, noise
    assert console.count("GPU available: False") == 1  # not once per handler
    assert re.search(r"model VireCNN [\d.]+ K, loss EmotionLoss 448 \| ", console)
    assert re.search(r"(?<![/\w])loss: *\n? *\d", console)  # the running loss in the bar


def test_files_for_others_are_world_readable(smoke: tuple[Path, str]) -> None:
    run_dir = smoke[0]
    shared = [run_dir / "report.md", run_dir / "test_embeddings.npz"]
    shared += sorted((run_dir / "figures").glob("*.png"))
    assert len(shared) >= 6  # confusion, ROC, center distances, training curves
    mask = os.umask(0o022)
    os.umask(mask)
    for path in shared:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~mask, path


def test_report_says_how_the_run_was_made(smoke: tuple[Path, str]) -> None:
    text = (smoke[0] / "report.md").read_text()
    assert "| command | `python -m emotion_lab.train experiment=smoke " in text
    assert "| overrides | `experiment=smoke` `paths.data_dir=" in text
    assert re.search(r"\| date \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d \|", text)
    assert "| checkpoint | checkpoints/best.ckpt |" in text
    assert re.search(r"\| best epoch \| [01] \(from 0, of 2 trained\): val/acc = 0\.\d{4} \|", text)
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")]
    classes = [r for r in rows if len(r) == 6 and r[0][2:] in ("angry", "disgust", "neutral")]
    assert len(classes) == 3
    for row in classes:  # flagged exactly when F1 is 0 (all classes are in the test split)
        assert (row[3] == "0.0000") == row[5].startswith("F1 = 0"), row
    assert "| macro avg |" in text and "| weighted avg |" in text
