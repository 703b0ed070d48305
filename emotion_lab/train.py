"""``python -m emotion_lab.train``: fit, test, report; returns the objective for sweepers."""

from __future__ import annotations

import hydra
import torch
from omegaconf import DictConfig

from emotion_lab.app.checks import check_train_config
from emotion_lab.app.config import register_resolvers
from emotion_lab.app.entry import one_line_errors, run_app
from emotion_lab.app.extras import apply_extras
from emotion_lab.run.plan import execute

register_resolvers()


def train(cfg: DictConfig) -> float:
    """The command's runs (one, or ``cv.folds`` × ``repeat.seeds``); returns the objective."""
    return execute(cfg)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float:
    check_train_config(cfg)
    apply_extras(cfg)
    torch.set_float32_matmul_precision("high")
    return train(cfg)


if __name__ == "__main__":
    run_app(main, "train")
