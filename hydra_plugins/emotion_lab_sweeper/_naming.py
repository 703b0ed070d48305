"""Default study names: the same command gives the same name, so re-running it resumes.

With ``study_name: null`` the sweeper names its study, in ``setup`` and before the sweep folder is
first used, ``<job name>-<hash>``: a hash of everything that defines the study (the command-line
overrides and the search space). Budget and parallelism (``n_trials``, ``n_jobs``) are left out so
that a study can be extended or run wider. The name is written into ``hydra.sweeper.study_name``,
so a sweep folder such as ``outputs/sweeps/${hydra.sweeper.study_name}`` follows it, and every
job gets it as an override (a job composes its own overrides, which would hash differently).
No resolver is involved: nothing depends on OmegaConf's global resolver registry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf


def default_study_name(hydra_cfg: DictConfig, trial_key: str | None = None) -> str:
    """``<job name>-<8 hex digits>`` for the sweep configured by ``hydra_cfg`` (the ``hydra``
    node); overrides of ``trial_key`` (which the sweeper itself writes per trial) are ignored."""
    own = tuple(f"{p}{trial_key}." for p in ("", "+", "++")) if trial_key else ()
    task = sorted(str(o) for o in hydra_cfg.overrides.task if not (own and str(o).startswith(own)))
    sweeper = hydra_cfg.get("sweeper") or {}
    params: Any = sweeper.get("params") if hasattr(sweeper, "get") else None
    if OmegaConf.is_config(params):
        params = OmegaConf.to_container(params, resolve=False)
    return f"{hydra_cfg.job.name}-{_digest({'task': task, 'params': params or {}})}"


def _digest(data: Any, length: int = 8) -> str:
    """A short hash of JSON-able data, keys sorted, the rest as text: stable across versions,
    since a study's name must not change under a resumed sweep."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]
