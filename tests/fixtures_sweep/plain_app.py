"""A Hydra app that knows nothing of emotion-lab: the sweeper plugin with only its own defaults.

No ``conf/`` of the project on the search path, no ``trial`` node, no resolvers: the objective is
``1 - (x - 0.3)^2`` plus a bonus per ``cat``, which ``hydra/sweeper=emotion_lab_optuna`` or
``emotion_lab_hyperopt`` maximises.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

BONUS = {"a": 0.0, "b": 0.05}


@hydra.main(version_base="1.3", config_path="plain_conf", config_name="plain")
def main(cfg: DictConfig) -> float:
    return 1.0 - (cfg.x - 0.3) ** 2 + BONUS[cfg.cat]


if __name__ == "__main__":
    main()
