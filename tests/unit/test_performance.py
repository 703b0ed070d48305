"""The performance switches: one memory layout for all models, and torch.compile as an option."""

from __future__ import annotations

import pytest
import torch

from emotion_lab.app.config import compose_config
from emotion_lab.errors import ConfigError
from emotion_lab.run.builders import build_datamodule, build_module


def test_compile_with_the_truncated_gram_backbone_is_refused_naming_both_keys() -> None:
    cfg = compose_config(
        overrides=["experiment=smoke", "model=gram_efficientnet_tiny", "performance.compile=true"]
    )
    with pytest.raises(ConfigError, match=r"performance\.compile.*model\.truncate=false"):
        build_module(cfg, build_datamodule(cfg))


def test_channels_last_follows_the_config_for_every_model() -> None:
    for value in (True, False):
        cfg = compose_config(overrides=["experiment=smoke", f"performance.channels_last={value}"])
        module = build_module(cfg, build_datamodule(cfg))
        conv = next(p for p in module.model.parameters() if p.dim() == 4 and p.shape[1] > 1)
        assert conv.is_contiguous(memory_format=torch.channels_last) is value


@pytest.mark.slow
def test_compiled_forward_gives_the_eager_outputs() -> None:
    cfg = compose_config(overrides=["experiment=smoke", "performance.compile=true"])
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule).eval()
    batch, _ = datamodule.splits["val"].__getitems__(list(range(8)))
    images = datamodule.prepare_batch(batch, train=False)
    with torch.no_grad():
        emb_compiled, logits_compiled = module._network()(images)
        emb, logits = module._forward_network(images)
    assert module._compiled is not None
    torch.testing.assert_close(logits_compiled, logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(emb_compiled, emb, atol=1e-4, rtol=1e-4)
