"""emotion-lab's Optuna and Hyperopt sweepers and its process and SLURM launchers for Hydra.

Hydra only instantiates plugin classes defined in modules it scans under ``hydra_plugins``, and
it imports every such module at start-up, for every run, except those whose name starts with a
single ``_``. So the classes here only forward to the implementations (``OptunaSweeperImpl``,
``HyperoptSweeperImpl``, ``ProcessLauncherImpl``, ``SlurmLauncherImpl``) in this package's
``_``-prefixed modules, importing them (and Optuna/Hyperopt) on first use, and the module body
only stores the plugin's structured configs in Hydra's ConfigStore: ``hydra/sweeper=
emotion_lab_optuna`` or ``emotion_lab_hyperopt``, ``hydra/launcher=process`` or the SLURM schema.
Hydra's scan re-runs this body whenever it rebuilds its plugin registry, so the configs are back
after Hydra's test fixtures reset its state. A trial's job uses :mod:`.contract`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.emotion_lab_sweeper import _config, _process_config, _slurm_config

_config.register()
_slurm_config.register()
_process_config.register()

_PRUNERS = ("MedianPruner", "FloorPruner")  # ``_target_``s of the pruners catalogue


def __getattr__(name: str) -> Any:
    """Our Optuna pruners, importable as ``hydra_plugins.emotion_lab_sweeper.<name>`` (so that a
    ``_target_`` needs no private module path) without importing Optuna at start-up."""
    if name in _PRUNERS:
        from hydra_plugins.emotion_lab_sweeper import _optuna_algos

        return getattr(_optuna_algos, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _implementation(module: str, name: str, kwargs: dict[str, Any]) -> Any:
    """Import this package's ``_<module>`` on first use and build its ``name`` from ``kwargs``."""
    from importlib import import_module

    return getattr(import_module(f"{__name__}._{module}"), name)(**kwargs)


class _ForwardingSweeper(Sweeper):
    """A Hydra ``Sweeper`` that hands every call to the implementation named by ``_impl``."""

    _impl: tuple[str, str]

    def __init__(self, **kwargs: Any) -> None:
        from hydra_plugins.emotion_lab_sweeper._base import reported  # bad settings: one line

        with reported():
            self.impl = _implementation(*self._impl, kwargs)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra_plugins.emotion_lab_sweeper._base import reported

        with reported():
            self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from hydra_plugins.emotion_lab_sweeper._base import reported

        with reported():
            return self.impl.sweep(arguments)


class OptunaSweeper(_ForwardingSweeper):
    """``hydra/sweeper=emotion_lab_optuna``: see ``_optuna_sweeper``."""

    _impl = ("optuna_sweeper", "OptunaSweeperImpl")


class HyperoptSweeper(_ForwardingSweeper):
    """``hydra/sweeper=emotion_lab_hyperopt``: see ``_hyperopt_sweeper``."""

    _impl = ("hyperopt_sweeper", "HyperoptSweeperImpl")


class _ForwardingLauncher(Launcher):
    """A Hydra ``Launcher`` that hands every call to the implementation named by ``_impl``."""

    _impl: tuple[str, str]

    def __init__(self, **kwargs: Any) -> None:
        self.impl = _implementation(*self._impl, kwargs)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        return self.impl.launch(job_overrides, initial_job_idx)


class ProcessLauncher(_ForwardingLauncher):
    """``hydra/launcher=process``: see ``_process_launcher``."""

    _impl = ("process_launcher", "ProcessLauncherImpl")


class SlurmLauncher(_ForwardingLauncher):
    """``hydra/launcher=slurm``: see ``_slurm_launcher``."""

    _impl = ("slurm_launcher", "SlurmLauncherImpl")

    def reattachable(self, job_num: int) -> bool:
        return bool(self.impl.reattachable(job_num))

    def cancel_all(self, why: str) -> None:
        self.impl.cancel_all(why)
