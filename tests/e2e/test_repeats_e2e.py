"""Seed repeats through the real command line: a two-seed multirun ends with its comparison."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.app_cli import run_module
from tests.fixtures_sweep.runner import REPO, explain, leaderboard, sweep_env

pytestmark = pytest.mark.slow

SMALL = [
    "experiment=smoke",
    "data.source.n=700",
    "trainer.max_epochs=1",
    "callbacks.progress_bar=null",
]


def _multirun(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    env = sweep_env()
    env.setdefault("WANDB_MODE", "offline")
    env.setdefault("WANDB_SILENT", "true")
    return run_module(
        "emotion_lab.train",
        "-m",
        *SMALL,
        f"paths.data_dir={tmp_path / 'data'}",
        *overrides,
        cwd=REPO,
        env=env,
        timeout=900,
        check=False,
    )


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_two_seed_repeats_of_two_betas_end_with_the_comparison_table(tmp_path: Path) -> None:
    sweep = tmp_path / "multirun"
    proc = _multirun(
        tmp_path,
        "logger=csv",
        "repeat.seeds=2",
        "loss.beta=0,0.1",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, explain(proc)
    for job in ("0", "1"):
        repeats = _csv(sweep / job / "repeats.csv")
        assert [r["seed"] for r in repeats] == ["42", "43"]
        summary = {r["metric"]: r for r in _csv(sweep / job / "summary.csv")}
        for metric in ("test/acc", "test/f1", "test/auroc", "test/ari", "test/nmi"):
            values = [float(r[metric]) for r in repeats]
            assert float(summary[metric]["mean"]) == pytest.approx(np.mean(values))
            assert float(summary[metric]["ci95_low"]) <= float(summary[metric]["mean"])
        for seed in ("42", "43"):
            run = sweep / job / f"seed_{seed}"
            record = json.loads((run / "test_metrics.json").read_text())
            assert record["seed"] == int(seed)
            assert (run / ".hydra" / "config.yaml").is_file()
        a, b = (np.load(sweep / job / f"seed_{s}" / "test_embeddings.npz") for s in ("42", "43"))
        assert np.array_equal(a["labels"], b["labels"])  # the split stayed fixed ...
        assert not np.allclose(a["embeddings"], b["embeddings"])  # ... the model did not
    table = {(r["metric"], r["group"]): r for r in _csv(sweep / "compare" / "compare.csv")}
    beta = table[("test/acc", "loss.beta=0.1")]
    assert table[("test/acc", "loss.beta=0")]["verdict"] == "reference"
    assert int(beta["n"]) == 2 and beta["test"] == "paired t"
    assert beta["verdict"] in ("within noise", "higher", "lower")
    assert "emotion-lab comparison" in proc.stdout
    assert (sweep / "compare" / "compare_forest.png").is_file()


def test_a_sweep_trial_returns_the_mean_over_its_seeds(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = _multirun(
        tmp_path,
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.study_name=repeats",
        "loss.beta=interval(0,1)",
        "repeat.seeds=2",
        "objective.aggregate=mean",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, explain(proc)
    (row,) = leaderboard(sweep)
    objectives = [float(r["objective"]) for r in _csv(Path(row["run_dir"]) / "repeats.csv")]
    assert len(objectives) == 2
    assert float(row["value"]) == pytest.approx(np.mean(objectives))
    assert row["runs"] == "2" and float(row["mean"]) == pytest.approx(np.mean(objectives))
    assert float(row["ci95_low"]) <= float(row["mean"]) <= float(row["ci95_high"])  # ± CI shown
    assert (sweep / "compare" / "compare.csv").is_file()  # the sweep ended with its table too
