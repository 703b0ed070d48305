"""The run summary names what a run dropped on load."""

from __future__ import annotations

from types import SimpleNamespace

from emotion_lab.app.config import compose_config
from emotion_lab.run.fit import RunResult, summary_rows


def _datamodule(skipped: dict[str, int], info: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        name="synthetic",
        splits={"train": [0] * 5, "val": [0] * 2, "test": [0] * 3},
        skipped=skipped,
        describe=lambda: info or {"set": "synthetic"},
    )


def _module() -> SimpleNamespace:
    return SimpleNamespace(model=SimpleNamespace(parameters=lambda: []))


def test_skipped_samples_are_counted_per_split_in_the_summary() -> None:
    cfg = compose_config(output_dir="outputs/x")
    rows = summary_rows(cfg, _datamodule({"train": 3, "no split": 1}), _module(), RunResult(0.5))
    assert rows["skipped samples"] == "3 train, 1 no split"
    rows = summary_rows(cfg, _datamodule({}), _module(), RunResult(0.5))
    assert "skipped samples" not in rows


def test_the_summary_names_the_split_protocol_id_table_and_what_was_left_out() -> None:
    cfg = compose_config(output_dir="outputs/x")
    info = {
        "set": "expw",
        "ids": {"0": "angry", "1": "disgust"},
        "split": "fixed: train 75 % / test 25 % (stratified, seed 0)",
        "split_digest": "abc123",
        "left_out": {"box confidence below 50": 7},
    }
    rows = summary_rows(cfg, _datamodule({}, info), _module(), RunResult(0.5))
    assert rows["splits"] == "fixed: train 75 % / test 25 % (stratified, seed 0) (digest abc123)"
    assert rows["label ids"] == "0 → angry, 1 → disgust"
    assert rows["left out"] == "7 box confidence below 50"
    plain = summary_rows(cfg, _datamodule({}), _module(), RunResult(0.5))
    assert "label ids" not in plain and "splits" not in plain
