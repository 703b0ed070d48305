"""Pruning: a trial whose curve is clearly worse stops early and is recorded PRUNED."""

from __future__ import annotations

import lightning.pytorch as pl
import optuna
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from emotion_lab.sweep.pruning import OptunaPruningCallback
from emotion_lab.sweep.trial_link import (
    FIRST_STEP_ATTR,
    FIT_END_ATTR,
    PLANNED_EPOCHS_ATTR,
    PRUNED_ATTR,
    STUDY_META_ATTR,
)
from tests.fixtures_sweep.runner import explain, run_sweep


def test_sweep_prunes_the_clearly_worse_trial(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(
        sweep_dir,
        "+note=interval(0,1)",  # does not change the score: trials 0-3 share one curve
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.study_name=prune",
        "hydra.sweeper.pruner=median",
        "+hydra.sweeper.pruner_kwargs.n_startup_trials=4",  # a 4th tie would be pruned
        "epochs=4",
        "bad_trials=[4]",
    )
    assert proc.returncode == 0, explain(proc)
    study = optuna.load_study(study_name="prune", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4 + ["PRUNED"]
    assert all(len(t.intermediate_values) == 4 for t in trials[:4])
    pruned = trials[4]
    assert pruned.user_attrs[PRUNED_ATTR] == 0 and list(pruned.intermediate_values) == [0]
    assert pruned.value == pruned.intermediate_values[0] < trials[0].value - 5


class _Fixed(pl.LightningModule):
    """Logs a chosen validation score; the weights only exist so that fit() can run."""

    def __init__(self, score: float) -> None:
        super().__init__()
        self.score = score
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: tuple, _: int) -> torch.Tensor:
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch: tuple, _: int) -> None:
        self.log("val/score", torch.tensor(self.score))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(callback: OptunaPruningCallback, score: float, epochs: int = 5) -> pl.Trainer:
    data = DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
    )
    trainer.fit(_Fixed(score), train_dataloaders=data, val_dataloaders=data)
    return trainer


def test_callback_reports_through_storage_and_stops(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="cb", storage=storage, direction="maximize")
    median = {"_target_": "hydra_plugins.emotion_lab_sweeper.MedianPruner", "n_startup_trials": 1}
    study.set_user_attr(STUDY_META_ATTR, {"pruner": {"node": median, "floor": None, "grace": 1}})
    done = study.ask()
    for step in range(5):
        done.report(1.0, step)
    study.tell(done, 1.0)
    running = study.ask()  # trial 1, as the sweeper would leave it for the job

    trainer = _fit(OptunaPruningCallback(storage, "cb", running.number, "val/score"), score=-3.0)
    assert trainer.current_epoch < 4  # stopped at the first validation
    frozen = optuna.load_study(study_name="cb", storage=storage).trials[1]
    assert frozen.intermediate_values == {0: -3.0}
    assert frozen.user_attrs[PRUNED_ATTR] == 0
    assert frozen.user_attrs[FIRST_STEP_ATTR] <= frozen.user_attrs[FIT_END_ATTR]
    assert frozen.user_attrs[PLANNED_EPOCHS_ATTR] == 5  # what an unpruned run would report


def test_callback_is_inert_outside_a_sweep() -> None:
    trainer = _fit(OptunaPruningCallback(None, None, None, "val/score"), score=-3.0, epochs=2)
    assert trainer.current_epoch == 2  # trained to the end
    with pytest.raises(ValueError, match="trial.study_name or trial.number is missing"):
        OptunaPruningCallback("sqlite:///x.db", None, 3, "val/score")
