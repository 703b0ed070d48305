"""The ``hydra/launcher=process`` schema, registered in Hydra's ConfigStore for any app.

Each job runs in a local process of its own, several at once; the sweepers use this launcher by
themselves when ``n_jobs > 1``. Jobs are plain local programs: SLURM, torchelastic and rank
variables are not passed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore

from hydra_plugins.emotion_lab_sweeper._config import PROVIDER

CONFIG_NAME = "process"


@dataclass
class ProcessLauncherConf:
    """Keys of :class:`~hydra_plugins.emotion_lab_sweeper._process_launcher.ProcessLauncherImpl`."""

    _target_: str = "hydra_plugins.emotion_lab_sweeper.ProcessLauncher"
    # auto (every GPU this process sees) | none | [0, 2, ...]: indices into the GPUs it sees
    gpus: Any = "auto"
    gpus_per_job: int = 1  # each concurrent job gets this many GPUs (CUDA_VISIBLE_DEVICES)
    # OMP/MKL threads per job; auto: the cores shared by the jobs in flight; null: untouched
    cpus_per_job: Any = "auto"
    jobs_in_flight: Any = "${oc.select:hydra.sweeper.n_jobs,1}"  # what auto divides cores by
    timeout_min: Any = None  # kill a job running longer than this
    # one worker process per slot runs job after job (no interpreter start per trial);
    # false: a fresh process for every job
    warm: bool = True
    worker_max_jobs: Any = None  # a warm worker is replaced after this many jobs; null: never
    worker_max_rss_gb: Any = None  # ... or when its resident memory after a job is above this


def register() -> None:
    ConfigStore.instance().store(
        group="hydra/launcher", name=CONFIG_NAME, node=ProcessLauncherConf, provider=PROVIDER
    )
