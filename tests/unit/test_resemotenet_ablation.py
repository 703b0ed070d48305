"""S004 Table IV: ResEmoteNet with a component removed still trains end to end."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from emotion_lab.errors import ParameterError
from emotion_lab.models import create_model
from emotion_lab.models.resemotenet import SqueezeExcite

# Table IV: config → the model overrides that remove its component (C1 is the full model)
TABLE_IV = {
    "C2": {"se": False},
    "C3": {"conv_stages": [2, 3]},
    "C4": {"conv_stages": [3]},
    "C5": {"residual_stages": [2, 3]},
    "C6": {"residual_stages": [3]},
}


def _convs(model: nn.Module) -> list[tuple[int, int]]:
    return [
        (m.in_channels, m.out_channels)
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and name.startswith("conv")
    ]


def _blocks(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_children() if name.startswith("res_block")]


@pytest.mark.parametrize("config", sorted(TABLE_IV))
def test_table_iv_configs_remove_their_component(config: str) -> None:
    full = create_model("resemotenet", 7, width=1 / 16)
    model = create_model("resemotenet", 7, width=1 / 16, **TABLE_IV[config])
    has_se = any(isinstance(m, SqueezeExcite) for m in model.modules())
    assert has_se == (config != "C2")
    expected_convs = {"C3": [(3, 8), (8, 16)], "C4": [(3, 16)]}.get(config, _convs(full))
    assert _convs(model) == expected_convs
    expected_blocks = {"C5": ["res_block2", "res_block3"], "C6": ["res_block3"]}
    assert _blocks(model) == expected_blocks.get(config, _blocks(full))
    x = torch.randn(2, 3, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in full.parameters())


def test_full_model_is_c1() -> None:
    model = create_model("resemotenet", 7, width=1 / 16, se=True)
    assert _convs(model) == [(3, 4), (4, 8), (8, 16)]
    assert _blocks(model) == ["res_block1", "res_block2", "res_block3"]


@pytest.mark.parametrize("stages", [[], [3, 1], [1, 1], [4]])
def test_bad_stage_lists_name_the_key(stages: list[int]) -> None:
    with pytest.raises(ParameterError, match="^conv_stages="):
        create_model("resemotenet", 7, width=1 / 16, conv_stages=stages)
