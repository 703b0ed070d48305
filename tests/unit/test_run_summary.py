"""The run summary names what a run dropped on load."""

from __future__ import annotations

from types import SimpleNamespace

from emotion_lab.config import compose_config
from emotion_lab.run import RunResult, summary_rows


def _datamodule(skipped: dict[str, int]) -> SimpleNamespace:
    return SimpleNamespace(
        name="synthetic",
        splits={"train": [0] * 5, "val": [0] * 2, "test": [0] * 3},
        skipped=skipped,
    )


def _module() -> SimpleNamespace:
    return SimpleNamespace(model=SimpleNamespace(parameters=lambda: []))


def test_skipped_samples_are_counted_per_split_in_the_summary() -> None:
    cfg = compose_config(output_dir="outputs/x")
    rows = summary_rows(cfg, _datamodule({"train": 3, "no split": 1}), _module(), RunResult(0.5))
    assert rows["skipped samples"] == "3 train, 1 no split"
    rows = summary_rows(cfg, _datamodule({}), _module(), RunResult(0.5))
    assert "skipped samples" not in rows
