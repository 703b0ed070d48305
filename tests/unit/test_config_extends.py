"""Configs that extend the defaults keep the defaults' settings and drop only what they say."""

from __future__ import annotations

from omegaconf import OmegaConf

from emotion_lab.app.config import compose_config


def _live(node) -> dict:
    return {k: v for k, v in OmegaConf.to_container(node).items() if v is not None}


def test_evaluate_callbacks_are_the_training_ones_that_act_at_test_time() -> None:
    train = _live(compose_config("train").callbacks)
    evaluate = _live(compose_config("evaluate", ["ckpt_path=x.ckpt"]).callbacks)
    # a new fit-only callback in callbacks/default.yaml must be dropped in callbacks/evaluate.yaml
    assert set(evaluate) == {"progress_bar", "analysis", "wandb_media"}
    for name in evaluate:  # the training settings, plus what evaluation adds
        assert {k: evaluate[name].get(k) for k in train[name]} == train[name]


def test_csv_logger_is_the_default_one_without_wandb() -> None:
    default = _live(compose_config("train").logger)
    csv = _live(compose_config("train", ["logger=csv"]).logger)
    assert "wandb" in default
    assert csv == {k: v for k, v in default.items() if k != "wandb"}
    assert set(csv) == {"csv"}
