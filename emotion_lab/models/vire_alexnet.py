"""AlexNet adapted to 48×48 grayscale faces (S001's second model, S002's "Alex CNN" baseline).

The paper names only AlexNet's outline (five conv layers starting at 96 filters, pooling after the
first layers and after the last conv, two 4096-unit dense layers), so the adaptation is ours:

- 11×11/4 and 5×5 kernels would shrink a 48×48 face to almost nothing, so conv1 is 5×5 stride 1
  and conv2 5×5, conv3–5 3×3, all 'same' padded; three 2×2 max-pools (after conv1, conv2, conv5)
  leave a 6×6×256 map at input 48 — the same 9216 features AlexNet feeds its classifier at 224.
- BatchNorm after each conv replaces the original local response normalisation (``batch_norm``).
- Dropout .5 before each 4096 dense layer, as in the original; ``hidden`` shrinks the dense width
  for CPU-sized runs.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ParameterError
from .base import EmotionNet
from .registry import register_model


def _conv(in_ch: int, out_ch: int, kernel: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.ReLU(inplace=True))
    return layers


@register_model("vire_alexnet")
class VireAlexNet(EmotionNet):
    """Embedding = the output of the second hidden dense layer (``hidden`` wide, after ReLU)."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        input_size: int = 48,
        hidden: int = 4096,
        dropout: float = 0.5,
        batch_norm: bool = True,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        spatial = input_size // 2 // 2 // 2
        if spatial < 1:
            raise ParameterError("input_size", input_size, "vire_alexnet pools 3 times, needs >= 8")
        if width <= 0:
            raise ParameterError("width", width, "must be > 0")
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in (96, 256, 384, 384, 256))
        self.features = nn.Sequential(
            *_conv(in_chans, c1, 5, batch_norm),
            nn.MaxPool2d(2),
            *_conv(c1, c2, 5, batch_norm),
            nn.MaxPool2d(2),
            *_conv(c2, c3, 3, batch_norm),
            *_conv(c3, c4, 3, batch_norm),
            *_conv(c4, c5, 3, batch_norm),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c5 * spatial * spatial, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(hidden, num_classes)
        self.embedding_dim = hidden

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)
