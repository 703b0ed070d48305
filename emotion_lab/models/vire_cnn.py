"""VIRE custom CNN (S001): the small two-conv network, also the project's default CPU model.

Layer for layer as the paper describes its Keras model: conv 32 → pool → dropout → conv 64 → pool
→ dropout → dense 128 → dense 64 → dense classes, with Keras' default 'valid' padding, so a 48×48
input flattens to 64·10·10 = 6400 features.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ParameterError
from .base import EmotionNet
from .registry import register_model


def _valid_conv_pool(size: int) -> int:
    """Spatial size after a 3×3 'valid' conv and a 2×2 max-pool (floor, as Keras)."""
    return (size - 2) // 2


@register_model("vire_cnn")
class VireCNN(EmotionNet):
    """Embedding = the 64-d output of the last hidden dense layer (after ReLU).

    ``width`` scales the two conv and two hidden dense widths together.
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        input_size: int = 48,
        dropout: float = 0.25,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        spatial = _valid_conv_pool(_valid_conv_pool(input_size))
        if spatial < 1:
            raise ParameterError("input_size", input_size, "vire_cnn needs >= 10")
        if width <= 0:
            raise ParameterError("width", width, "must be > 0")
        c1, c2, d1, d2 = (max(1, round(c * width)) for c in (32, 64, 128, 64))
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, c1, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Dropout(dropout),
            nn.Conv2d(c1, c2, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(c2 * spatial * spatial, d1),
            nn.ReLU(inplace=True),
            nn.Linear(d1, d2),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(d2, num_classes)
        self.embedding_dim = d2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)
