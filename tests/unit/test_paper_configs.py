"""The experiments and studies carry the values the papers' tables give (S000, S001, S002, S004)."""

from __future__ import annotations

import pytest

from emotion_lab.config import compose_config

# S001 Table 4 (phase I) and Table 7 (phase II, with augmentation): lr, batch, epochs, initializer.
S001_PICKS = {
    "s001_vire_alexnet_phase1": (0.000141436, 64, 50, "lecun_normal", False),
    "s001_vire_densenet_phase1": (0.000139557, 8, 25, "lecun_normal", False),
    "s001_vire_cnn_phase1": (0.000828395, 8, 50, "he_normal", False),
    "s001_vire_cnn_phase1_300e": (0.000828395, 8, 300, "he_normal", False),
    "s001_vire_alexnet_phase2": (0.000248422, 8, 150, "lecun_normal", True),
    "s001_vire_densenet_phase2": (0.000433757, 8, 150, "he_normal", True),
    "s001_vire_cnn_phase2": (0.000167163, 16, 150, "glorot_uniform", True),
}


@pytest.mark.parametrize("name", sorted(S001_PICKS))
def test_s001_trained_models_are_the_hyperopt_picks(name: str) -> None:
    lr, batch, epochs, init, augmented = S001_PICKS[name]
    cfg = compose_config("train", [f"experiment={name}"])
    assert cfg.model.name == "vire_" + name.split("_")[2]
    assert (cfg.optimizer.lr, cfg.data.batch_size, cfg.trainer.max_epochs) == (lr, batch, epochs)
    assert cfg.init.name == init
    assert cfg.objective.metric == "val/loss"
    shears = [op.get("shear") for op in cfg.augmentation.ops]
    assert shears == ([10] if augmented else [])  # phase II: Table 6, shear in Keras degrees
