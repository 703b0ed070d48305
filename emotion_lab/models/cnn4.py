"""The S003 Keras CNNs: the regularised four-layer network and the plain baseline it started from.

Keras attaches L2 penalties to individual layers (``kernel_regularizer=l2(c)`` adds ``c·Σw²`` of
that layer's kernel to the loss; biases and BatchNorm are not penalised). PyTorch optimizers only
know one global weight decay, so :class:`CNN4` exposes :meth:`CNN4.regularization_loss` and the
training module adds it to the loss whenever a model has that method.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ParameterError
from .base import EmotionNet
from .registry import register_model


def _per_layer(value: float | Sequence[float], count: int, key: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * count
    values = [float(v) for v in value]
    if len(values) != count:
        raise ParameterError(key, values, f"{len(values)} values for {count} conv layers")
    return values


@register_model("cnn4")
class CNN4(EmotionNet):
    """4 × [conv3×3 → ReLU → BN → max-pool 2 → dropout] → dense → dropout → classes.

    Defaults are the paper's: channels 32/64/128/512, conv L2 1e-3 then 1e-2, dense 256 with L2
    1e-2, dropout .4 after each block and .5 after the dense layer. Embedding = the dense layer's
    ReLU output. The L2 terms are NOT part of ``forward``: call :meth:`regularization_loss` (the
    LightningModule does) to add them to the loss, with Keras semantics.

    ``padding``: the paper does not say. ``'same'`` (48 → 24 → 12 → 6 → 3, 4608 features into the
    dense layer) is the project's choice; ``'valid'`` is Keras' default and what the baseline it
    grew from uses (48 → 23 → 10 → 4 → 1, 512 features).
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        input_size: int = 48,
        channels: Sequence[int] = (32, 64, 128, 512),
        conv_l2: float | Sequence[float] = (1e-3, 1e-2, 1e-2, 1e-2),
        dense_units: int = 256,
        dense_l2: float = 1e-2,
        output_l2: float = 0.0,
        conv_dropout: float = 0.4,
        dense_dropout: float = 0.5,
        padding: str = "same",
    ) -> None:
        super().__init__()
        widths = [int(c) for c in channels]
        if not widths:
            raise ParameterError("channels", widths, "needs at least one conv layer")
        if padding not in ("same", "valid"):
            raise ParameterError("padding", padding, "must be 'same' or 'valid'")
        trim = 0 if padding == "same" else 2  # a 'valid' 3×3 conv loses one pixel per side
        spatial = input_size
        for _ in widths:
            spatial = (spatial - trim) // 2
        if spatial < 1:
            raise ParameterError(
                "input_size", input_size, f"too small for {len(widths)} pooling stages"
            )
        coefs = _per_layer(conv_l2, len(widths), "conv_l2")
        blocks: list[nn.Module] = []
        prev = in_chans
        for width in widths:
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(prev, width, kernel_size=3, padding=1 if padding == "same" else 0),
                    nn.ReLU(inplace=True),
                    nn.BatchNorm2d(width),
                    nn.MaxPool2d(2),
                    nn.Dropout(conv_dropout),
                )
            )
            prev = width
        self.blocks = nn.Sequential(*blocks)
        self.dense = nn.Linear(prev * spatial * spatial, dense_units)
        self.dense_dropout = nn.Dropout(dense_dropout)
        self.classifier = nn.Linear(dense_units, num_classes)
        self.embedding_dim = dense_units
        self._l2 = [(f"blocks.{i}.0.weight", c) for i, c in enumerate(coefs)]
        self._l2 += [("dense.weight", float(dense_l2)), ("classifier.weight", float(output_l2))]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.dense(torch.flatten(self.blocks(x), 1)))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dense_dropout(embedding))

    def regularization_loss(self) -> torch.Tensor:
        """Σ over layers of coef·Σ(kernel²), the term Keras adds for ``kernel_regularizer=l2``."""
        params = dict(self.named_parameters())
        total = params["dense.weight"].new_zeros(())
        for name, coef in self._l2:
            if coef:
                total = total + coef * params[name].pow(2).sum()
        return total


@register_model("keras_baseline_cnn")
class KerasBaselineCNN(EmotionNet):
    """S003's starting point: 4 × ['valid' conv3×3 → ReLU → max-pool 2 → dropout .4], dense 512, 256.

    At input 48 the map shrinks 48→46→23→21→10→8→4→2→1, so 512 features reach the dense layers.
    Dropout after the dense layers (.4, .3) is our choice, following the common form of this
    notebook model. Embedding = the 256-unit layer's ReLU output.
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        input_size: int = 48,
        channels: Sequence[int] = (128, 256, 512, 512),
        dense_units: Sequence[int] = (512, 256),
        conv_dropout: float = 0.4,
        dense_dropout: Sequence[float] = (0.4, 0.3),
    ) -> None:
        super().__init__()
        widths = [int(c) for c in channels]
        units = [int(u) for u in dense_units]
        drops = [float(d) for d in dense_dropout]
        if not units or len(drops) != len(units):
            raise ParameterError("dense_dropout", drops, "needs one rate per entry of dense_units")
        spatial = input_size
        for _ in widths:
            spatial = (spatial - 2) // 2
            if spatial < 1:
                raise ParameterError(
                    "input_size", input_size, f"too small for {len(widths)} 'valid' conv stages"
                )
        conv: list[nn.Module] = []
        prev = in_chans
        for width in widths:
            conv += [
                nn.Conv2d(prev, width, kernel_size=3),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
                nn.Dropout(conv_dropout),
            ]
            prev = width
        dense: list[nn.Module] = [nn.Flatten()]
        prev = prev * spatial * spatial
        for i, (width, rate) in enumerate(zip(units, drops, strict=True)):
            dense += [nn.Linear(prev, width), nn.ReLU(inplace=True)]
            if i < len(units) - 1:
                dense.append(nn.Dropout(rate))
            prev = width
        self.features = nn.Sequential(*conv, *dense)
        self.head_dropout = nn.Dropout(drops[-1])
        self.classifier = nn.Linear(prev, num_classes)
        self.embedding_dim = prev

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_dropout(embedding))
