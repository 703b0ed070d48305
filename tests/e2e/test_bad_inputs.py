"""Corpus of bad inputs run through the real commands: each must end with one line naming the
key or path at fault and the promised exit code, without a traceback and without leaving results
behind. Prints ``N cases, N good`` at the end.

The cases run up front, a few at a time (each is a fresh interpreter that fails within
seconds), and every case is then one test that checks its result.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SMOKE = ("experiment=smoke", "logger=csv")


@dataclass(frozen=True)
class Case:
    """One bad input: the command's arguments and what its failure must look like."""

    id: str
    module: str
    args: tuple[str, ...]  # may name the fixture files: {text}, {cut}
    named: str  # the stderr's last line must contain this (the key, path or reason)
    code: int = 2
    absent: tuple[str, ...] = ("checkpoints", "report.md", "test_metrics.json")
    check: Callable[[Path], str | None] | None = field(default=None, compare=False)


def _text_file(root: Path) -> Path:
    path = root / "notes.ckpt"
    path.write_text("this is not a checkpoint\n")
    return path


def _truncated_checkpoint(root: Path) -> Path:
    path = root / "cut.ckpt"
    torch.save({"state_dict": {"w": torch.ones(256, 256)}, "epoch": 3}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _trial_failed_unranked(run: Path) -> str | None:
    with (run / "leaderboard.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    if [(r["state"], r["rank"]) for r in rows] != [("FAIL", "")]:
        return f"expected one unranked FAIL trial, got {rows}"
    if "training diverged" not in rows[0]["error"]:
        return f"trial error does not say it diverged: {rows[0]['error']!r}"
    return None


def _fixtures(root: Path) -> dict[str, Path]:
    return {
        "text": _text_file(root),
        "cut": _truncated_checkpoint(root),
    }


TRAIN, EVALUATE = "emotion_lab.train", "emotion_lab.evaluate"
SWEEP = ("-m", *SMOKE, "hydra/sweeper=optuna", "hydra.sweeper.n_trials=1")
CASES = [
    Case("lr-text", TRAIN, (*SMOKE, "optimizer.lr='nan'"), "optimizer.lr: expected a number"),
    Case("lr-negative", TRAIN, (*SMOKE, "optimizer.lr=-1"), "optimizer.lr=-1: must be > 0"),
    Case("epochs-text", TRAIN, (*SMOKE, "trainer.max_epochs=abc"), "trainer.max_epochs:"),
    Case("epochs-zero", TRAIN, (*SMOKE, "trainer.max_epochs=0"), "trainer.max_epochs=0"),
    Case("batch-text", TRAIN, (*SMOKE, "data.batch_size=abc"), "data.batch_size:"),
    Case("seed-text", TRAIN, (*SMOKE, "seed=x"), "seed: expected an integer, got 'x'"),
    Case(
        "model-refuses-size",
        TRAIN,
        (*SMOKE, "model.input_size=8"),
        "model.input_size=8: vire_cnn needs >= 10",
    ),
    Case(
        "loss-refuses-form",
        TRAIN,
        (*SMOKE, "loss.center_form=cosine"),
        "loss.center_form='cosine': must be 'margin' or 'ratio'",
    ),
    Case("resume-text", TRAIN, (*SMOKE, "ckpt_path={text}"), "ckpt_path='{text}'"),
    Case("resume-cut", TRAIN, (*SMOKE, "ckpt_path={cut}"), "ckpt_path='{cut}'"),
    Case(
        "diverged",
        TRAIN,
        (*SMOKE, "optimizer.lr=1e12"),
        "training diverged: the training loss is nan",
    ),
    Case("eval-text", EVALUATE, ("logger=csv", "ckpt_path={text}"), "ckpt_path='{text}'"),
    Case("eval-cut", EVALUATE, ("logger=csv", "ckpt_path={cut}"), "not a readable checkpoint"),
    Case(
        "sweep-unknown-key",
        TRAIN,
        (*SWEEP, "optimizer.lrr=interval(0.001,0.1)"),
        "'optimizer.lrr=interval(0.001,0.1)': Could not override 'optimizer.lrr'",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-unknown-group-option",
        TRAIN,
        (*SWEEP, "init=foo,bar"),
        "command-line override 'init=foo,bar': In 'train': Could not find 'init/foo'",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-bad-job-override",
        TRAIN,
        (
            *SWEEP,
            "optimizer.lr=interval(1e-3,1e-2)",
            "hydra.sweeper.job_overrides=['+sweep_trial=x']",
        ),
        "hydra.sweeper.job_overrides: '+sweep_trial=x': In 'train': Could not find 'sweep_trial/x'",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-empty-interval",
        TRAIN,
        (*SWEEP, "optimizer.lr=interval(1,0)"),
        "interval needs start < end",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-log-of-zero",
        TRAIN,
        (*SWEEP, "optimizer.lr=tag(log,interval(0,1))"),
        "tag(log, ...) needs a positive start",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-unknown-tag",
        TRAIN,
        ("-m", *SMOKE, "hydra/sweeper=hyperopt", "optimizer.lr=tag(lg,interval(0.1,1))"),
        "unknown tag(s) ['lg']",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-zero-epochs-choice",
        TRAIN,
        (*SWEEP, "optimizer.lr=tag(log,interval(1e-4,1e-1))", "trainer.max_epochs=0,1"),
        "'trainer.max_epochs=0,1': trainer.max_epochs=0: must be >= 1",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-grid-interval",
        TRAIN,
        (*SWEEP, "hydra.sweeper.sampler=grid", "optimizer.lr=interval(0.001,0.1)"),
        "hydra.sweeper.sampler=grid needs choice() or range()",
        absent=("multirun.yaml", "0"),
    ),
    Case(
        "sweep-diverged-trial",
        TRAIN,
        (*SWEEP, "optimizer.lr=1e12,1e13", "hydra.sweeper.seed=0"),
        "no trial succeeded: 1 failed; trial 0: TrainingDiverged: training diverged",
        code=1,
        absent=("best.yaml", "0/checkpoints/best.ckpt", "0/report.md"),
        check=_trial_failed_unranked,
    ),
]


@dataclass
class Result:
    case: Case
    run: Path
    proc: subprocess.CompletedProcess[str]
    named: str  # case.named with the fixture paths filled in

    def problem(self) -> str | None:
        """Why this result breaks the rule, or None when it is a good one-line error."""
        err = self.proc.stderr.strip()
        last = err.splitlines()[-1] if err else ""
        if self.proc.returncode != self.case.code:
            return f"exit code {self.proc.returncode}, expected {self.case.code}"
        if "Traceback" in self.proc.stderr:
            return "a traceback on stderr"
        if not last.startswith("error: ") or self.named not in last:
            return f"last stderr line {last!r} does not name {self.named!r}"
        left = [p for p in self.case.absent if (self.run / p).exists()]
        if left:
            return f"left behind {left}"
        return self.case.check(self.run) if self.case.check else None


def _run(case: Case, root: Path, files: dict[str, Path]) -> Result:
    run = root / case.id
    args = [a.format(**files) for a in case.args]
    hydra_dir = "hydra.sweep.dir" if "-m" in case.args else "hydra.run.dir"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "PYTHONPATH": str(REPO),
    }
    env.pop("EMOTION_LAB_DEBUG", None)
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            case.module,
            *args,
            f"{hydra_dir}={run}",
            f"paths.data_dir={root / 'data' / case.id}",  # cases run side by side
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Result(case, run, proc, case.named.format(**files))


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict[str, Result]:
    root = tmp_path_factory.mktemp("bad-inputs")
    files = _fixtures(root)
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        done = {r.case.id: r for r in pool.map(lambda c: _run(c, root, files), CASES)}
    yield done
    good = sum(r.problem() is None for r in done.values())
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown even when the tests pass
        print(f"\nbad-input corpus: {len(done)} cases, {good} good", flush=True)


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_bad_input_is_one_line_naming_it(results: dict[str, Result], case_id: str) -> None:
    result = results[case_id]
    problem = result.problem()
    assert problem is None, (
        f"{case_id}: {problem}\n--- stderr\n{result.proc.stderr[-3000:]}"
        f"\n--- stdout\n{result.proc.stdout[-1500:]}"
    )
