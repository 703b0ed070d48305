"""Keras-style weight initialisers, so S001's initializer search means what it meant in Keras.

Keras' ``he_normal`` and ``lecun_normal`` are *truncated* normals (cut at ±2σ) whose σ is divided
by 0.87962566103423978, the standard deviation of a unit normal truncated to [-2, 2]; the
weights therefore end up with standard deviation exactly sqrt(scale/fan_in) (scale 2 for He,
1 for LeCun). PyTorch's ``kaiming_normal_`` is an untruncated normal, so we build the Keras
version from ``trunc_normal_``. ``glorot_uniform`` is U(±sqrt(6/(fan_in+fan_out))). Keras
initialises biases to zero, so the three named schemes zero them too.

Only convolution and linear weights are touched; normalisation layers keep their ones/zeros.
``default`` leaves PyTorch's own initialisation in place.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ParameterError

INITIALIZERS = ("default", "glorot_uniform", "he_normal", "lecun_normal")

# Standard deviation of a standard normal truncated to [-2, 2] (Keras' VarianceScaling constant).
_TRUNCATED_STD = 0.87962566103423978

_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)


def _fan_in(weight: torch.Tensor) -> int:
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
    return int(fan_in)


def _truncated_variance_scaling(weight: torch.Tensor, scale: float) -> None:
    std = math.sqrt(scale / _fan_in(weight)) / _TRUNCATED_STD
    nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


@torch.no_grad()
def apply_initializer(model: nn.Module, name: str) -> nn.Module:
    """Re-initialise every Conv*/Linear layer of ``model`` in place with scheme ``name``.

    Use it before training from scratch: it overwrites pretrained weights just the same.
    """
    if name not in INITIALIZERS:
        known = f"is not a known initializer; choose from {INITIALIZERS}"
        raise ParameterError("name", name, known)
    if name == "default":
        return model
    for module in model.modules():
        if not isinstance(module, _WEIGHTED):
            continue
        weight = module.weight
        if name == "glorot_uniform":
            nn.init.xavier_uniform_(weight)
        elif name == "he_normal":
            _truncated_variance_scaling(weight, 2.0)
        else:
            _truncated_variance_scaling(weight, 1.0)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    return model
