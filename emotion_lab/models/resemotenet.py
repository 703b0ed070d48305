"""ResEmoteNet (S004), laid out exactly as the authors' public code so its checkpoints load.

Module names and tensor shapes follow the public implementation one to one (``conv1``…``bn3``,
``se.fc.0``/``se.fc.2``, ``res_block1..3`` with a ``shortcut`` Sequential, ``fc1``…``fc4``), so a
state_dict saved by that code loads with ``strict=True``. At ``width=1`` with 3 input channels and
7 classes the network has 80,238,599 parameters.

``width`` scales every channel and hidden width, which gives CPU-sized variants of the same
topology for tests and quick experiments; only ``width=1`` is checkpoint compatible.

The paper's ablation (Table IV, on RAF-DB) removes components: ``se=False`` (C2, no SE block),
``conv_stages`` drops conv stages by number (C3 ``[2, 3]`` without CNN 64, C4 ``[3]`` without
CNN 64 and 128), ``residual_stages`` drops residual blocks (C5 ``[2, 3]`` without RB 256, C6
``[3]`` without RB 256 and 512). Kept stages keep their names, and each takes the channels of
whatever precedes it; how the paper rewired the remaining stages is not stated, so this is the
project's reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .base import EmotionNet
from .checkpoint import load_strict, read_state_dict
from .registry import register_model


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class SqueezeExcite(nn.Module):
    """Channel re-weighting from globally pooled statistics (bias-free, as in the reference)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc(x.mean(dim=(2, 3)))
        return x * scale[:, :, None, None]


class ResidualBlock(nn.Module):
    """Two 3×3 conv+BN with a projected (1×1 conv+BN) shortcut; always downsamples here."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride),
            nn.BatchNorm2d(out_ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _stages(value: Sequence[int], key: str) -> tuple[int, ...]:
    """Stage numbers 1-3, each once, in order; at least one."""
    stages = tuple(int(v) for v in value)
    if not stages or sorted(set(stages)) != list(stages) or not set(stages) <= {1, 2, 3}:
        raise ParameterError(key, list(value), "needs ascending stage numbers from 1, 2, 3")
    return stages


@register_model("resemotenet")
class ResEmoteNet(EmotionNet):
    """Three conv stages + SE + three residual stages + a four-layer MLP head.

    The embedding is the 256-d (at width 1) input of ``fc4``; the head applies the reference's
    dropout and ``fc4`` to it, so ``forward`` reproduces the reference forward pass exactly.
    Adaptive pooling makes any ``input_size`` ≥ 8 work; the authors' code trains at 64.
    ``checkpoint_path`` starts from a file saved by the reference code (see
    :func:`load_official_checkpoint`).
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        input_size: int = 64,
        width: float = 1.0,
        se_reduction: int = 16,
        conv_dropout: float = 0.2,
        head_dropout: float = 0.5,
        checkpoint_path: str | None = None,
        se: bool = True,
        conv_stages: Sequence[int] = (1, 2, 3),
        residual_stages: Sequence[int] = (1, 2, 3),
    ) -> None:
        super().__init__()
        self.conv_stages = _stages(conv_stages, "conv_stages")
        self.residual_stages = _stages(residual_stages, "residual_stages")
        pools = len(self.conv_stages)
        if input_size < 2**pools:
            raise ParameterError(
                "input_size", input_size, f"ResEmoteNet pools {pools} times, needs >= {2**pools}"
            )
        if width <= 0:
            raise ParameterError("width", width, "must be > 0")
        convs = [_scaled(c, width) for c in (64, 128, 256)]
        blocks = [_scaled(c, width) for c in (512, 1024, 2048)]
        h1, h2, h3 = (_scaled(c, width) for c in (1024, 512, 256))

        channels = in_chans
        for i in self.conv_stages:
            setattr(self, f"conv{i}", nn.Conv2d(channels, convs[i - 1], kernel_size=3, padding=1))
            setattr(self, f"bn{i}", nn.BatchNorm2d(convs[i - 1]))
            channels = convs[i - 1]
        self.se = SqueezeExcite(channels, se_reduction) if se else nn.Identity()
        for i in self.residual_stages:
            setattr(self, f"res_block{i}", ResidualBlock(channels, blocks[i - 1]))
            channels = blocks[i - 1]
        self.fc1 = nn.Linear(channels, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, h3)
        self.fc4 = nn.Linear(h3, num_classes)
        self.conv_dropout = nn.Dropout(conv_dropout)
        self.head_dropout = nn.Dropout(head_dropout)
        self.embedding_dim = h3
        if checkpoint_path is not None:
            load_official_checkpoint(self, checkpoint_path)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for i in self.conv_stages:
            x = F.max_pool2d(F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x))), 2)
            if i < 3:  # the reference drops out after the first two conv stages only
                x = self.conv_dropout(x)
        x = self.se(x)
        for i in self.residual_stages:
            x = getattr(self, f"res_block{i}")(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        x = self.head_dropout(F.relu(self.fc1(x)))
        x = self.head_dropout(F.relu(self.fc2(x)))
        return F.relu(self.fc3(x))

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.fc4(self.head_dropout(embedding))


def load_official_checkpoint(
    model: ResEmoteNet, path: str | Path, key: str = "checkpoint_path"
) -> None:
    """Load a state_dict saved by the authors' code (optionally wrapped) into ``model``, strictly.

    The class count of the file must equal the model's (the reference head is ``fc4``).
    """
    state = read_state_dict(path, key)
    load_strict(model, state, f"{key}={str(path)!r}", key)
