"""The plugin's structured configs, registered in Hydra's ConfigStore at start-up.

``hydra/sweeper=emotion_lab_optuna`` and ``hydra/sweeper=emotion_lab_hyperopt`` work in any Hydra
app with these defaults alone; an app may bind its own keys to them in a YAML of its own that
lists one of them in its defaults (emotion-lab's ``conf/hydra/sweeper/*.yaml`` do). The
launchers' schemas are registered the same way, by ``_process_config`` and ``_slurm_config``.

Samplers and pruners are ``_target_`` nodes in the ``samplers`` and ``pruners`` catalogues;
``sampler`` and ``pruner`` name the one used, so ``hydra.sweeper.pruner=asha`` switches with one
override, and a new one is one more catalogue entry
(``+hydra.sweeper.pruners.mine={_target_: my.Pruner}``). This module imports neither Optuna nor
Hyperopt: the targets are only strings here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

PROVIDER = "emotion_lab_sweeper"
OPTUNA, HYPEROPT = "emotion_lab_optuna", "emotion_lab_hyperopt"


def _optuna_samplers() -> dict[str, Any]:
    return {
        "tpe": {"_target_": "optuna.samplers.TPESampler"},
        "random": {"_target_": "optuna.samplers.RandomSampler"},
        "cmaes": {"_target_": "optuna.samplers.CmaEsSampler"},
        "grid": {"_target_": "optuna.samplers.GridSampler"},  # gets the grid of the space
    }


def _optuna_pruners() -> dict[str, Any]:
    return {
        "none": {"_target_": "optuna.pruners.NopPruner"},
        "median": {"_target_": "hydra_plugins.emotion_lab_sweeper.MedianPruner"},
        "asha": {"_target_": "optuna.pruners.SuccessiveHalvingPruner"},
        "hyperband": {"_target_": "optuna.pruners.HyperbandPruner"},
    }


def _hyperopt_samplers() -> dict[str, Any]:
    return {
        "tpe": {
            "_target_": "hyperopt.tpe.suggest",
            "_partial_": True,
            "n_startup_jobs": 10,
            "verbose": False,
        },
        "random": {"_target_": "hyperopt.rand.suggest", "_partial_": True},
    }


@dataclass
class SweeperConf:
    """Keys both sweepers read; each is documented in docs/sweeps.md."""

    _target_: str = ""
    _recursive_: bool = False  # the catalogues' _target_ nodes are built by the sweeper, per use
    # search space in Hydra's sweep syntax; sweep overrides on the command line add to it
    params: dict[str, Any] = field(default_factory=dict)
    n_trials: int = 20  # total for the study, resumed trials included
    direction: str = "maximize"  # maximize | minimize
    seed: int | None = None  # trial n is proposed with a seed from (seed, n)
    # null: <job name>-<hash of the command's overrides and params>, so re-running resumes
    study_name: str | None = None
    storage: str | None = None  # null: SQLite in the sweep folder
    n_jobs: int = 1  # trials in flight (>1: one process per trial)
    max_failure_rate: float = 0.5  # stop once failed/finished exceeds this ...
    min_trials_for_failure_rate: int = 3  # ... counted once this many trials finished
    sampler: str = "tpe"  # a key of samplers
    sampler_kwargs: dict[str, Any] = field(default_factory=dict)
    samplers: dict[str, Any] = field(default_factory=dict)
    pruner: str = "none"  # a key of pruners
    pruner_kwargs: dict[str, Any] = field(default_factory=dict)
    pruners: dict[str, Any] = field(default_factory=_optuna_pruners)
    # prune a trial whose best value is still not better than floor after floor_grace reports
    floor: float | None = None
    floor_grace: int = 1
    baseline: bool = False  # a new study first runs the config's own values (Optuna)
    # The config node each trial's job gets its number, study_name, storage and sweeper in
    # (``++<trial_key>.number=3``); null: the job is told nothing but its overrides.
    trial_key: str | None = None
    # Dotted path of a function (key, value) that raises ValueError for a value a job would
    # refuse (lr <= 0); every searched value's ends are checked with it before the first trial.
    value_check: str | None = None
    # Overrides every trial's job gets besides its parameters, e.g. ``[+sweep_trial=optuna]``: a
    # config group with what a job needs only inside a trial (a pruning callback). Not part of
    # the trial's parameters: the leaderboard, best.yaml and re-run commands leave them out.
    job_overrides: list[str] = field(default_factory=list)


@dataclass
class OptunaSweeperConf(SweeperConf):
    _target_: str = "hydra_plugins.emotion_lab_sweeper.OptunaSweeper"
    samplers: dict[str, Any] = field(default_factory=_optuna_samplers)
    pruner: str = "median"
    heartbeat_s: float = 30.0  # a running trial refreshes its heartbeat this often
    stale_after_s: float = 300.0  # RUNNING without heartbeat this long: interrupted on resume


@dataclass
class HyperoptSweeperConf(SweeperConf):
    """Hyperopt keeps its trials in the sweep folder (``storage`` must stay null) and cannot
    prune or run a baseline: those keys exist so that one study file serves both sweepers."""

    _target_: str = "hydra_plugins.emotion_lab_sweeper.HyperoptSweeper"
    samplers: dict[str, Any] = field(default_factory=_hyperopt_samplers)
    # Resume a folder whose trials an earlier version pickled (hyperopt_trials.pkl): reading a
    # pickle can run code, so only for a folder one trusts; the trials are then kept as JSON.
    trust_pickles: bool = False


def register() -> None:
    """Store both sweeper configs; safe to repeat (Hydra's scan runs this module's importer)."""
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name=OPTUNA, node=OptunaSweeperConf, provider=PROVIDER)
    store.store(group="hydra/sweeper", name=HYPEROPT, node=HyperoptSweeperConf, provider=PROVIDER)
