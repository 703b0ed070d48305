"""``python -m emotion_lab.train``: fit, test, report; returns the objective for sweepers."""

from __future__ import annotations

import hydra
import torch
from omegaconf import DictConfig

from emotion_lab.cli import one_line_errors
from emotion_lab.config import register_resolvers
from emotion_lab.cross_validation import cross_validate
from emotion_lab.run import fit_and_test

register_resolvers()


def train(cfg: DictConfig) -> float:
    """One run, or ``cv.folds`` runs of stratified cross-validation; returns the objective."""
    if cfg.get("cv") and cfg.cv.get("folds"):
        return cross_validate(cfg)
    return fit_and_test(cfg).objective


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@one_line_errors
def main(cfg: DictConfig) -> float:
    torch.set_float32_matmul_precision("high")
    return train(cfg)


if __name__ == "__main__":
    main()
