"""Lightning DDP that works inside a sweep trial (``trainer=ddp``).

Lightning starts ranks 1..N-1 by re-running the program with ``sys.argv``; inside a Hydra sweep
that is the whole multirun command, so every rank would start a sweep of its own. This strategy
starts them with the trial's own overrides instead (a plain run in the trial's folder), so the
ranks join the trial and nothing else.

A DDP trial must own its process: Lightning's child watcher kills the parent when a rank dies,
and the process group and ``MASTER_PORT`` stay behind after ``fit``. So inside a sweep a DDP trial
runs under ``hydra/launcher=process`` (one process per trial) or SLURM (whose ranks Lightning
joins without spawning), never inside the sweep process itself.
"""

from __future__ import annotations

import os
import sys

from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from hydra_plugins.emotion_lab_sweeper.contract import ENTRY_ENV, single_run_command


def rank_command(local_rank: int) -> tuple[list[str], str | None]:
    """Command and cwd of an extra rank: this job's config, run once in this job's folder."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    command = single_run_command(hc, str(hc.runtime.output_dir), f"{hc.job.name}_rank{local_rank}")
    return command, str(hc.runtime.cwd)


class _TrialScriptLauncher(_SubprocessScriptLauncher):
    """Lightning's script launcher with the rank command built by :func:`rank_command`."""

    def _call_children_scripts(self) -> None:
        _refuse_inside_sweep_process()
        module = sys.modules[_SubprocessScriptLauncher.__module__]
        original = module._hydra_subprocess_cmd
        module._hydra_subprocess_cmd = rank_command
        try:
            super()._call_children_scripts()
        finally:
            module._hydra_subprocess_cmd = original


class TrialDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose extra ranks re-run the current trial only."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if type(self._launcher) is _SubprocessScriptLauncher:
            assert self.cluster_environment is not None
            self._launcher = _TrialScriptLauncher(
                self.cluster_environment, self.num_processes, self.num_nodes
            )


def _refuse_inside_sweep_process() -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return
    in_multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    own_process = bool(os.environ.get(ENTRY_ENV))  # set for jobs of hydra/launcher=process
    if in_multirun and not own_process:
        raise RuntimeError(
            "trainer=ddp inside a sweep needs each trial in its own process: add "
            "hydra/launcher=process (or hydra/launcher=slurm)"
        )
