"""Default study names: the same command gives the same name, so re-running it resumes.

The sweeper configs use ``study_name: ${emotion_lab.study_name:}`` and put the sweep folder under
``outputs/sweeps/<study_name>/``. The name is the job name plus a short hash of everything that
defines the study (the command-line overrides and the search space); budget and parallelism
(``n_trials``, ``n_jobs``) are left out so that a study can be extended or run wider.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

RESOLVER = "emotion_lab.study_name"
TRIAL_KEYS = ("trial.", "+trial.", "++trial.")  # filled per trial by the sweepers


def default_study_name(_root_: DictConfig) -> str:
    hydra = _root_.hydra
    task = sorted(str(o) for o in hydra.overrides.task if not str(o).startswith(TRIAL_KEYS))
    sweeper = hydra.get("sweeper") or {}
    params = sweeper.get("params") if hasattr(sweeper, "get") else None
    params = (
        OmegaConf.to_container(params, resolve=False) if OmegaConf.is_config(params) else params
    )
    digest = fingerprint_digest({"task": task, "params": params or {}})
    return f"{hydra.job.name}-{digest}"


def fingerprint_digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def register_resolvers() -> None:
    """Make ``${emotion_lab.study_name:}`` available.

    Jobs compose their config with their own overrides, which would give another hash, so the
    sweepers pass the sweep's resolved name to every job as ``hydra.sweeper.study_name``.
    """
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, default_study_name)
