"""``dotted.lookup``: what config checks and figure captions read from a nested config."""

from __future__ import annotations

from types import MappingProxyType

from emotion_lab.dotted import lookup

CONFIG = {"loss": {"margin": 5, "beta": None}, "seed": 0, "name": "run"}


def test_walks_nested_mappings() -> None:
    assert lookup(CONFIG, "loss.margin") == 5
    assert lookup(CONFIG, "seed") == 0
    assert lookup(MappingProxyType({"a": MappingProxyType({"b": 1})}), "a.b") == 1


def test_absent_key_or_non_mapping_gives_the_default() -> None:
    missing = object()
    assert lookup(CONFIG, "loss.lambda_") is None
    assert lookup(CONFIG, "optimizer.lr", missing) is missing
    assert lookup(CONFIG, "name.first", missing) is missing  # a string is no mapping
    assert lookup(CONFIG, "loss.beta", missing) is None  # a stored None is not missing
