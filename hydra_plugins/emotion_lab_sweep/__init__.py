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

from emotion_lab.sweep.naming import register_resolvers

register_resolvers()


class OptunaSweeper(Sweeper):
    """``hydra/sweeper=optuna``: see :mod:`emotion_lab.sweep.optuna_sweeper`."""

    def __init__(self, **kwargs: Any) -> None:
        from emotion_lab.sweep.optuna_sweeper import OptunaSweeper as Impl

        self.impl = Impl(**kwargs)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self.impl.sweep(arguments)


class HyperoptSweeper(Sweeper):
    """``hydra/sweeper=hyperopt``: see :mod:`emotion_lab.sweep.hyperopt_sweeper`."""

    def __init__(self, **kwargs: Any) -> None:
        from emotion_lab.sweep.hyperopt_sweeper import HyperoptSweeper as Impl

        self.impl = Impl(**kwargs)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        return self.impl.sweep(arguments)


class ProcessLauncher(Launcher):
    """``hydra/launcher=process``: see :mod:`emotion_lab.sweep.process_launcher`."""

    def __init__(self, **kwargs: Any) -> None:
        from emotion_lab.sweep.process_launcher import ProcessLauncher as Impl

        self.impl = Impl(**kwargs)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        return self.impl.launch(job_overrides, initial_job_idx)
