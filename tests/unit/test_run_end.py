"""The end of a run: test metrics read one way, the W&B run finished even when the run fails."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.loggers import WandbLogger

from emotion_lab.callbacks import TestAnalysis
from emotion_lab.run.end import collect_test_metrics, finishing_wandb, wandb_run_dir
from emotion_lab.run.records import STANDARD_METRICS, headline_metrics


class _FakeWandb(WandbLogger):
    """A W&B logger whose run is a recorder, so nothing is started or sent."""

    def __init__(self) -> None:
        self.finished = 0
        self._run = SimpleNamespace(dir="/runs/wandb/run-1/files", finish=self._finish)

    def _finish(self) -> None:
        self.finished += 1

    @property
    def experiment(self) -> SimpleNamespace:  # type: ignore[override]
        return self._run


def _trainer(rank_zero: bool = True) -> SimpleNamespace:
    metrics = {"test/acc": torch.tensor(0.5), "val/acc": torch.tensor(0.9)}
    return SimpleNamespace(callback_metrics=metrics, is_global_zero=rank_zero)


def test_metrics_come_from_the_analysis_callback_when_there_is_one(tmp_path) -> None:
    analysis = TestAnalysis(output_dir=str(tmp_path))
    analysis.metrics = {"test/acc": 0.25, "test/ari": 0.1}
    assert collect_test_metrics(_trainer(), [analysis]) == {"test/acc": 0.25, "test/ari": 0.1}
    assert collect_test_metrics(_trainer(), []) == {"test/acc": 0.5}


def test_wandb_is_finished_on_rank_zero_even_after_an_error() -> None:
    wandb = _FakeWandb()
    with pytest.raises(RuntimeError), finishing_wandb([wandb], _trainer()):
        raise RuntimeError("fit failed")
    assert wandb.finished == 1
    with finishing_wandb([wandb], _trainer(rank_zero=False)):
        pass
    assert wandb.finished == 1
    assert wandb_run_dir([wandb], _trainer()) == "/runs/wandb/run-1"
    assert wandb_run_dir([wandb], _trainer(rank_zero=False)) is None
    assert wandb_run_dir([], _trainer()) is None


def test_headline_metrics_keep_the_standard_order_and_skip_the_rest() -> None:
    metrics = {"test/nmi": 0.3, "test/delta": 1.0, "test/acc": 0.5}
    assert list(headline_metrics(metrics)) == ["test/acc", "test/nmi"]
    assert set(headline_metrics(dict.fromkeys(STANDARD_METRICS, 0.0))) == set(STANDARD_METRICS)
