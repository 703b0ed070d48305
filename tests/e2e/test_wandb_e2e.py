"""W&B as its users expect, read back from the offline run files of real smoke runs: the name,
tags and notes, the best-epoch summary, the test media, the model artifact, the evaluate link,
a resumed fit continuing the same run, and TensorBoard beside it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from tests.e2e.app_cli import app_env, run_module
from tests.wandb_records import OfflineRun, read_run

pytestmark = pytest.mark.slow

SMOKE = ("experiment=smoke", "callbacks.wandb_media.max_predictions=50")


def _cli(module: str, *overrides: str, cwd: Path) -> str:
    # artifact staging under the test's folder, not the user's home
    env = app_env(WANDB_DATA_DIR=str(cwd / "wandb-data"))
    return run_module(module, *overrides, cwd=cwd, env=env).stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OfflineRun]:
    work = tmp_path_factory.mktemp("wandb")
    run_dir = work / "run"
    _cli(
        "emotion_lab.train",
        *SMOKE,
        "loss.beta=0.1",
        "optimizer.lr=2e-3",
        "tags=[smoke,wandb-test]",
        "notes='checks the W&B records'",
        "logger.wandb.log_model=true",
        f"paths.data_dir={work / 'data'}",
        f"hydra.run.dir={run_dir}",
        cwd=work,
    )
    return run_dir, read_run(run_dir)


def _csv_column(run_dir: Path, key: str) -> list[float]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as handle:
        return [float(row[key]) for row in csv.DictReader(handle) if row.get(key)]


def test_name_tags_and_notes(trained) -> None:
    _, run = trained
    assert run.run.display_name == "vire_cnn-smoke-beta0.1-lr2e-3-s42"
    assert list(run.run.tags) == ["smoke", "wandb-test"]
    assert run.run.notes == "checks the W&B records"


def test_summary_holds_the_best_epoch_and_the_best_checkpoints_test(trained) -> None:
    run_dir, run = trained
    val = _csv_column(run_dir, "val/acc")
    assert len(val) == 2
    assert run.summary["val/acc"] == {"max": pytest.approx(max(val))}
    assert run.summary["best/val/acc"] == pytest.approx(max(val))
    assert run.summary["best/epoch"] == int(max(range(2), key=lambda e: val[e]))
    assert run.summary["best/checkpoint"] == str(run_dir / "checkpoints" / "best.ckpt")
    (test_acc,) = _csv_column(run_dir, "test/acc")  # one test pass: on the best checkpoint
    assert run.summary["test/acc"] == pytest.approx(test_acc)


def test_test_media_are_logged_and_capped(trained) -> None:
    _, run = trained
    for key in ("confusion_matrix_table", "roc_curves_table", "pr_curves_table"):
        assert run.summary[f"test/{key}/_type"] == "table-file", key
    assert run.summary["test/predictions/nrows"] == 50  # capped (138 test images)
    assert run.summary["test/embeddings/nrows"] == 138
    predictions = run.artifact("testpredictions")
    thumbnails = [c.path for c in predictions.manifest.contents if c.path.endswith(".png")]
    assert len(thumbnails) == 50


def test_log_model_uploads_the_best_checkpoint_offline(trained) -> None:
    run_dir, run = trained
    models = [a for a in run.artifacts if a.type == "model"]
    best = next(a for a in models if "best" in a.aliases)
    assert best.name == f"model-{run.run.run_id}"
    assert [c.path for c in best.manifest.contents] == ["model.ckpt"]
    assert '"original_filename": "best.ckpt"' in best.metadata.replace('":"', '": "')


def test_checkpoints_name_their_wandb_run(trained) -> None:
    run_dir, run = trained
    for name in ("best.ckpt", "last.ckpt"):
        saved = torch.load(run_dir / "checkpoints" / name, map_location="cpu", weights_only=True)
        assert saved["wandb_run"]["id"] == run.run.run_id
        assert saved["wandb_run"]["name"] == run.run.display_name


def test_evaluate_links_back_to_the_training_run(trained) -> None:
    run_dir, run = trained
    work = run_dir.parent
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    _cli(
        "emotion_lab.evaluate",
        f"ckpt_path={ckpt}",
        "callbacks.analysis.umap=false",
        f"hydra.run.dir={work / 'eval'}",
        cwd=work,
    )
    evaluation = read_run(work / "eval")
    assert evaluation.run.job_type == "evaluate"
    assert evaluation.run.display_name == f"eval-{run.run.display_name}"
    assert evaluation.config["evaluated"]["wandb_id"] == run.run.run_id
    assert evaluation.summary["evaluated/checkpoint"] == str(ckpt)
    assert f"runs/{run.run.run_id}" in evaluation.run.notes
    assert evaluation.summary["test/predictions/_type"] == "table-file"


def test_resume_continues_the_same_run_keeps_the_best_and_writes_tensorboard(trained) -> None:
    run_dir, run = trained
    work = run_dir.parent
    resumed_dir = work / "resumed"
    _cli(
        "emotion_lab.train",
        *SMOKE,
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
        "trainer.max_epochs=3",
        "logger=many_loggers",
        f"paths.data_dir={work / 'data'}",
        f"hydra.run.dir={resumed_dir}",
        cwd=work,
    )
    resumed = read_run(resumed_dir)
    assert resumed.run.run_id == run.run.run_id
    assert resumed.run.display_name == run.run.display_name
    first_best = run.summary["best/val/acc"]
    last = torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=True)  # data
    (state,) = (v for k, v in last["callbacks"].items() if "Checkpoint" in k)
    assert float(state["best_model_score"]) >= first_best  # never forgotten by the new folder
    assert resumed.summary["best/val/acc"] == pytest.approx(float(state["best_model_score"]))
    assert state["best_model_path"] == str(resumed_dir / "checkpoints" / "best.ckpt")
    events = list((resumed_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and sum(e.stat().st_size for e in events) > 0
    assert (resumed_dir / "csv" / "metrics.csv").is_file()
