"""A tiny Hydra app with a known optimum, for testing the sweep mechanics in seconds.

``quadratic`` mode: score = 1 - (x - 0.3)^2 - (y - 0.7)^2 + bonus[cat], reached over ``epochs``
"epochs" whose values rise towards the score; each one is reported to the Optuna trial (when a
sweep set ``trial.storage``) and the run stops if the pruner says so. Knobs make chosen trials
fail, return NaN, sleep (6x longer for ``slow_trials``), start a process of their own that
outlives them (``child_s``), or follow a clearly worse curve;
``repeats=K`` returns the mean of K "seed runs" spread around the score, as a RepeatedValue
with their 95 % t-interval (the app's statistics, as a real app would hand them over).

``lightning`` mode trains a tiny Lightning model (optionally 2-process DDP on CPU) with the real
pruning callback, to test what a training job does inside a sweep.
"""

from __future__ import annotations

import math
import time

import hydra
from omegaconf import DictConfig

BONUS = {"a": 0.0, "b": 0.05, "c": -0.05}


def score_of(cfg: DictConfig) -> float:
    return 1.0 - (cfg.x - 0.3) ** 2 - (cfg.y - 0.7) ** 2 + BONUS.get(str(cfg.cat), 0.0)


def repeat_offsets(k: int) -> list[float]:
    """The K "seed runs" of ``repeats=K`` around its best value: fixed, so tests know them."""
    return [0.01 * (i - (k - 1) / 2) + 0.002 * i * i for i in range(k)]


def quadratic(cfg: DictConfig) -> float:
    from emotion_lab.sweep.trial_link import FIRST_STEP_ATTR, link_from

    number = cfg.trial.number
    if number is not None and number in cfg.fail_trials:
        raise ValueError(f"trial {number} was told to fail")
    link = link_from(cfg.trial.storage, cfg.trial.study_name, number)
    if link is not None:
        link.mark_time(FIRST_STEP_ATTR)
    if cfg.child_s:  # a process of the trial's own, like a data loader worker
        import subprocess
        import sys

        subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({cfg.child_s})"])
    target = score_of(cfg) - (10.0 if number is not None and number in cfg.bad_trials else 0.0)
    best = -math.inf
    slow = number is not None and number in cfg.slow_trials
    for epoch in range(cfg.epochs):
        time.sleep(cfg.sleep_s * (6 if slow else 1))
        value = target - 0.5 / (epoch + 1)
        best = max(best, value)
        if link is not None and link.report(value, epoch):
            link.mark_pruned(epoch)
            break
    if number is not None and number in cfg.nan_trials:
        return float("nan")
    if cfg.repeats:
        from emotion_lab.comparison.stats import t_interval
        from hydra_plugins.emotion_lab_sweeper.contract import RepeatedValue

        runs = [best + offset for offset in repeat_offsets(cfg.repeats)]
        iv = t_interval(runs)
        return RepeatedValue(sum(runs) / len(runs), runs, (iv.low, iv.high) if iv.n > 1 else None)
    return best


def lightning_run(cfg: DictConfig) -> float:
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from emotion_lab.sweep.ddp import TrialDDPStrategy
    from emotion_lab.sweep.pruning import OptunaPruningCallback

    torch.set_num_threads(1)
    pl.seed_everything(cfg.seed, verbose=False)
    gen = torch.Generator().manual_seed(0)
    xs = torch.randn(64, 4, generator=gen)
    ys = xs @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1 * torch.randn(64, generator=gen)
    data = TensorDataset(xs, ys)

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: tuple, _: int) -> torch.Tensor:
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)

        def validation_step(self, batch: tuple, _: int) -> None:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)
            self.log("val/score", -loss, sync_dist=True)
            self.log("world_size", float(self.trainer.world_size), sync_dist=False)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=cfg.x)

    pruning = OptunaPruningCallback(
        cfg.trial.storage, cfg.trial.study_name, cfg.trial.number, cfg.objective.metric
    )
    strategy = (
        TrialDDPStrategy(process_group_backend="gloo", start_method="popen") if cfg.ddp else "auto"
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2 if cfg.ddp else 1,
        strategy=strategy,
        max_epochs=cfg.epochs,
        callbacks=[pruning],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=".",
    )
    best: list[float] = []

    class Track(pl.Callback):
        def on_validation_end(self, trainer: pl.Trainer, _: pl.LightningModule) -> None:
            if not trainer.sanity_checking:
                best.append(float(trainer.callback_metrics["val/score"]))

    trainer.callbacks.append(Track())
    loader = DataLoader(data, batch_size=16)
    trainer.fit(Tiny(), train_dataloaders=loader, val_dataloaders=DataLoader(data, batch_size=16))
    if trainer.global_rank == 0 and cfg.ddp:
        assert float(trainer.callback_metrics["world_size"]) == 2.0, "DDP did not run 2 ranks"
    return max(best)


@hydra.main(version_base="1.3", config_path="conf", config_name="app")
def main(cfg: DictConfig) -> float:
    return lightning_run(cfg) if cfg.mode == "lightning" else quadratic(cfg)


if __name__ == "__main__":
    main()
