"""Name → constructor registry, so a config or a test can build any architecture by name.

Each architecture lives in its own module and registers itself with ``@register_model``; adding one
means one Python file (plus its YAML in ``conf/model``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..errors import ParameterError

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


def create_model(
    name: str, num_classes: int, in_chans: int = 3, arch: str | None = None, **kwargs: Any
) -> nn.Module:
    """Build a registered model: logits out, ``forward_features`` and ``embedding_dim`` exposed.

    ``name`` is what summaries and run names call the model; ``arch`` is the registered
    constructor when several configs share one (``vit_b16`` and ``resnetv2_50`` are both
    ``timm``). Without ``arch`` the name is the constructor, as in checkpoints saved before.
    """
    arch = arch or name
    if arch not in _REGISTRY:
        key = "arch" if arch != name else "name"
        raise ParameterError(key, arch, f"is not a known model; choose from {list_models()}")
    return _REGISTRY[arch](num_classes=num_classes, in_chans=in_chans, **kwargs)
