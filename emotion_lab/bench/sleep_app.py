"""A Hydra app whose job only sleeps: the workload of the sweep utilisation benchmark.

Each job sleeps ``sleep_s`` seconds and returns ``(sleep_s - 5.5) ** 2``, so a sampler steers
towards mid-length trials without collapsing onto one duration. Nothing is imported beyond
Hydra, so whatever a trial costs beyond its sleep is the sweep's and the launcher's overhead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore

CONFIG_NAME = "emotion_lab_sleep_app"


@dataclass
class SleepAppConf:
    sleep_s: float = 1.0
    seed: int = 0
    objective: dict[str, Any] = field(
        default_factory=lambda: {"metric": "objective", "direction": "minimize"}
    )
    trial: dict[str, Any] = field(default_factory=dict)  # the sweeper writes ``trial.*`` here


ConfigStore.instance().store(name=CONFIG_NAME, node=SleepAppConf)


@hydra.main(version_base="1.3", config_path=None, config_name=CONFIG_NAME)
def main(cfg: Any) -> float:
    time.sleep(float(cfg.sleep_s))
    return (float(cfg.sleep_s) - 5.5) ** 2


if __name__ == "__main__":
    main()
