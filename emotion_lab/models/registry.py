"""Name → constructor registry, so a config or a test can build any architecture by name.

Each architecture lives in its own module and registers itself with ``@register_model``; adding one
means one Python file (plus its YAML in ``conf/model``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def decorator(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return decorator


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int, in_chans: int = 3, **kwargs: Any) -> nn.Module:
    """Build a registered model; it returns logits and exposes ``forward_features``/``embedding_dim``."""
    if name not in _REGISTRY:
        raise ValueError(f"model.name={name!r} is not a known model; choose from {list_models()}")
    return _REGISTRY[name](num_classes=num_classes, in_chans=in_chans, **kwargs)
