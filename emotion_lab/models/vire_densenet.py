"""Small DenseNet for 48×48 faces (S001's third model).

Shapes at input 48 (paper, Fig. 6): 3×3 stride-2 stem → 24×24×64, BN-ReLU, max-pool → 12×12×64;
dense block of 4 layers, growth 32 → 12×12×192; transition (compression ½) → 6×6×96; dense block
→ 6×6×224; transition → 3×3×112; a third dense block with no transition after it → 3×3×240;
global average pool → 240 ("a vector of 240 units, resulting from the average pooling");
dense → classes. The paper does not name the third block's layer count: 4, like the others
(112 + 4·32 = 240), is the one that gives its 240 units.
Dense layers are the plain BN-ReLU-conv3×3 kind (no bottleneck), transitions BN-ReLU-conv1×1-avgpool.
``block_layers`` sets the blocks (a transition follows every block but the last unless
``final_transition``); ``block_layers=[4, 4], final_transition=true`` is the 112-unit variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ParameterError
from .base import EmotionNet
from .registry import register_model


class DenseLayer(nn.Module):
    """Adds ``growth`` new feature maps computed from everything before it."""

    def __init__(self, in_ch: int, growth: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, growth, kernel_size=3, padding=1, bias=False),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class Transition(nn.Sequential):
    """Compresses channels and halves the resolution between dense blocks."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False),
            nn.AvgPool2d(2),
        )


@register_model("vire_densenet")
class VireDenseNet(EmotionNet):
    """Embedding = the globally pooled output of the last block (240-d by default)."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        input_size: int = 48,
        stem_channels: int = 64,
        growth_rate: int = 32,
        block_layers: Sequence[int] = (4, 4, 4),
        compression: float = 0.5,
        dropout: float = 0.0,
        final_transition: bool = False,
    ) -> None:
        super().__init__()
        blocks = [int(n) for n in block_layers]
        if not blocks or min(blocks) < 1:
            raise ParameterError("block_layers", blocks, "needs blocks of >= 1 layer")
        transitions = len(blocks) - (0 if final_transition else 1)
        # stem halves twice, each transition once
        if input_size // 4 // 2**transitions < 1:
            too_small = f"too small for {transitions} transitions"
            raise ParameterError("input_size", input_size, too_small)
        if not 0 < compression <= 1:
            raise ParameterError("compression", compression, "must be in (0, 1]")
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, stem_channels, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]
        channels = stem_channels
        for index, n_layers in enumerate(blocks):
            for _ in range(n_layers):
                layers.append(DenseLayer(channels, growth_rate, dropout))
                channels += growth_rate
            if index == len(blocks) - 1 and not final_transition:
                break
            out = max(1, int(channels * compression))
            layers.append(Transition(channels, out))
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)
        self.embedding_dim = channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)
