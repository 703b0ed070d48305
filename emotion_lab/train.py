"""``python -m emotion_lab.train``: fit, test, report; returns the objective for sweepers."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from emotion_lab.app.checks import check_train_config
from emotion_lab.app.config import register_resolvers
from emotion_lab.app.entry import one_line_errors, run_app

register_resolvers()


def train(cfg: DictConfig) -> float:
    """The command's runs (one, or ``cv.folds`` × ``repeat.seeds``); returns the objective.

    The training stack (torch, Lightning, timm, W&B) is imported here, not at the top: ``--help``
    and a config error answer in the time Hydra itself needs."""
    from emotion_lab.app.console import route_library_logs
    from emotion_lab.run.plan import execute  # imports Lightning, which adds its own handler

    route_library_logs()
    return execute(cfg)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float:
    check_train_config(cfg)
    import torch

    from emotion_lab.app.console import quiet_library_warnings
    from emotion_lab.app.extras import apply_extras

    quiet_library_warnings()
    apply_extras(cfg)
    torch.set_float32_matmul_precision("high")
    return train(cfg)


if __name__ == "__main__":
    run_app(main, "train")
