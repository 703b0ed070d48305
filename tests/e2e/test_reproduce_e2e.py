"""``python -m emotion_lab.reproduce`` through the real command line at ``scale=smoke``: two
settings × two seeds of the smallest experiment (S001's CNN) train through the real training
multirun, end with the table, and a second run of the command resumes with nothing to train."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.e2e.app_cli import app_env, run_module
from tests.fixtures_sweep.runner import REPO, explain

pytestmark = pytest.mark.slow


def test_a_smoke_claim_set_end_to_end_and_its_resume(tmp_path: Path) -> None:
    out = tmp_path / "reproduce"
    args = [
        "claims=s001/table5",
        "scale=smoke",
        "only=[cnn,cnn_300e]",
        "seeds=2",
        'overrides=["logger=csv","callbacks.progress_bar=null"]',
        f"out_dir={out}",
        f"paths.data_dir={tmp_path / 'data'}",
    ]
    proc = run_module("emotion_lab.reproduce", *args, cwd=REPO, env=app_env(), check=False)
    assert proc.returncode == 0, explain(proc)
    assert "4 runs to train" in proc.stdout and "expected time: unknown" in proc.stdout
    for setting in ("cnn", "cnn_300e"):
        for seed in (42, 43):
            assert (out / setting / f"seed_{seed}" / "test_metrics.json").is_file()
    with (out / "reproduce.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    claims = [r for r in rows if r["kind"] == "claim"]
    assert {r["setting"] for r in claims} == {"cnn", "cnn_300e"}
    assert {r["metric"] for r in claims} == {
        "test/acc",
        "test/loss",
        "train/acc@last",
        "train/loss@last",
    }
    assert all(r["n"] == "2" and r["scale"] == "smoke" for r in claims)
    assert all(r["verdict"] in ("reproduced", "higher", "lower") for r in claims)
    (comparison,) = [r for r in rows if r["kind"] == "comparison"]
    assert comparison["verdict"] in ("holds", "differs") and comparison["n"] == "2"
    markdown = (out / "reproduce.md").read_text()
    assert "are not the paper's" in markdown and "synthetic (paper: fer2013)" in markdown
    assert (out / "reproduce_forest.png").is_file()
    assert list((out / "wandb").glob("offline-run-*")), "no offline W&B run of the table"

    again = run_module("emotion_lab.reproduce", *args, cwd=REPO, env=app_env(), check=False)
    assert again.returncode == 0, explain(again)
    assert "0 runs to train" in again.stdout and "4 finished runs reused" in again.stdout
    assert "emotion_lab.train" not in again.stdout  # no training command ran
    with (out / "reproduce.csv").open() as fh:
        assert list(csv.DictReader(fh)) == rows
