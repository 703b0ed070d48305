"""The ``hydra/launcher`` schema of our SLURM launcher: submitit's SLURM keys plus our own.

Registered under the name ``emotion_lab_slurm``, which ``conf/hydra/launcher/slurm.yaml`` builds
on, so every hydra-submitit-launcher key stays available and typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf

from hydra_plugins.emotion_lab_sweeper._config import PROVIDER

CONFIG_NAME = "emotion_lab_slurm"


@dataclass
class SlurmTrialQueueConf(SlurmQueueConf):
    """How the launcher waits for jobs and what it does with a dead sweep's jobs."""

    _target_: str = "hydra_plugins.emotion_lab_sweeper.SlurmLauncher"
    poll_s: float = 10.0  # seconds between looks at result files and squeue
    lost_after_s: float = 60.0  # a job gone from squeue without a result fails this much later
    on_resume: str = "reattach"  # jobs of a dead sweep on resume: reattach | cancel


def register() -> None:
    ConfigStore.instance().store(
        group="hydra/launcher", name=CONFIG_NAME, node=SlurmTrialQueueConf, provider=PROVIDER
    )
