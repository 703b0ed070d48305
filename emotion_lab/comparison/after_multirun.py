"""Hydra callback: a multirun (``-m``, or a sweep) ends with the comparison table over its jobs.

Registered in ``conf/hydra/default.yaml`` as ``hydra.callbacks.compare``; turn it off with
``hydra.callbacks.compare.enabled=false``. It reads the job folders the multirun left, so it
works the same with the basic sweeper and with emotion-lab's own sweepers, and a bad or empty
multirun is a warning: the jobs have already run and their results stay where they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def wandb_mode(config: DictConfig) -> str:
    """Like the runs: offline unless they logged online, disabled when they had no W&B logger."""
    wandb = OmegaConf.select(config, "logger.wandb", default=None)
    if wandb is None:
        return "disabled"
    return "offline" if wandb.get("offline", True) else "online"


class CompareAfterMultirun(Callback):
    """Runs :func:`emotion_lab.comparison.table.run_compare` on the multirun folder when it ends."""

    def __init__(
        self,
        enabled: bool = True,
        by: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        umap: bool = False,
    ) -> None:
        self.enabled = enabled
        self.by = list(by or [])
        self.metrics = list(metrics or [])
        self.umap = umap

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        # imported here: every job instantiates the callbacks, only the multirun's end uses them
        from emotion_lab.app.entry import one_line
        from emotion_lab.comparison.table import run_compare
        from emotion_lab.errors import UserError
        from emotion_lab.run.records import STANDARD_METRICS, discover_runs

        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            runs = discover_runs(sweep_dir)
            metrics = self.metrics or [
                m for m in STANDARD_METRICS if all(m in run.metrics for run in runs)
            ]
            run_compare(
                [sweep_dir],
                by=self.by,
                metrics=metrics,
                out_dir=sweep_dir / "compare",
                umap=self.umap,
                wandb_mode=wandb_mode(config),
            )
        except UserError as exc:
            log.warning(f"no comparison of the multirun's jobs: {one_line(exc)}")
