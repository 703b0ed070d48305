"""The one interface every architecture honours: logits out, penultimate embedding exposed."""

from __future__ import annotations

import torch
from torch import nn


class EmotionNet(nn.Module):
    """Base class: subclasses implement ``forward_features`` (B×D embedding) and ``forward_head``.

    The embedding is what the contrastive-center loss pulls together and what the clustering
    analysis reads, so every model must expose it and its width ``embedding_dim``.
    """

    embedding_dim: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
