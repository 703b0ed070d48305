"""Registers emotion-lab's sweepers and launcher with Hydra.

Hydra only instantiates plugin classes defined under the ``hydra_plugins`` namespace, and it
imports every module here at start-up, for every run. So these classes only forward to the real
implementations in ``emotion_lab.sweep``, importing them (and Optuna/Hyperopt) on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from emotion_lab.sweep import slurm_config
from emotion_lab.sweep.naming import register_resolvers

register_resolvers()
slurm_config.register()


def _implementation(module: str, name: str, kwargs: dict[str, Any]) -> Any:
    """Import ``emotion_lab.sweep.<module>`` on first use and build its ``name`` from ``kwargs``."""
    from importlib import import_module

    return getattr(import_module(f"emotion_lab.sweep.{module}"), name)(**kwargs)


class _ForwardingSweeper(Sweeper):
    """A Hydra ``Sweeper`` that hands every call to the implementation named by ``_impl``."""

    _impl: tuple[str, str]

    def __init__(self, **kwargs: Any) -> None:
        from emotion_lab.sweep.base import reported  # bad settings: one line, exit 2

        with reported():
            self.impl = _implementation(*self._impl, kwargs)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        from emotion_lab.sweep.base import reported

        with reported():
            return self.impl.sweep(arguments)


class OptunaSweeper(_ForwardingSweeper):
    """``hydra/sweeper=optuna``: see :mod:`emotion_lab.sweep.optuna_sweeper`."""

    _impl = ("optuna_sweeper", "OptunaSweeper")


class HyperoptSweeper(_ForwardingSweeper):
    """``hydra/sweeper=hyperopt``: see :mod:`emotion_lab.sweep.hyperopt_sweeper`."""

    _impl = ("hyperopt_sweeper", "HyperoptSweeper")


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
    """``hydra/launcher=process``: see :mod:`emotion_lab.sweep.process_launcher`."""

    _impl = ("process_launcher", "ProcessLauncher")


class SlurmLauncher(_ForwardingLauncher):
    """``hydra/launcher=slurm``: see :mod:`emotion_lab.sweep.slurm_launcher`."""

    _impl = ("slurm_launcher", "SlurmTrialLauncher")

    def reattachable(self, job_num: int) -> bool:
        return bool(self.impl.reattachable(job_num))

    def cancel_all(self, why: str) -> None:
        self.impl.cancel_all(why)
