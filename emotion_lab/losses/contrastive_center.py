"""Contrastive-center loss: pull embeddings to learnable class centers, push centers apart.

Two forms share one module so a config value picks between them:

* ``margin`` (the S000 paper): ``L = L_intra + λ·L_inter`` with
  ``L_intra = mean_k ||x_k − c_{y_k}||²`` and
  ``L_inter = 1/(C(C−1)) · Σ_{i≠j} max(0, m − ||c_i − c_j||)²``.
* ``ratio`` (Qi & Su, 2017): ``L = ½ Σ_k ||x_k − c_{y_k}||² / (Σ_{j≠y_k} ||x_k − c_j||² + ε)``,
  averaged over the batch; ``inter`` then reports the mean denominator term.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from emotion_lab.errors import ConfigError, ParameterError

CenterForm = Literal["margin", "ratio"]


class CenterLossTerms(NamedTuple):
    total: torch.Tensor
    intra: torch.Tensor
    inter: torch.Tensor


class ContrastiveCenterLoss(nn.Module):
    """Learnable class centers (C×D, random init) trained by the same optimizer as the network."""

    def __init__(
        self,
        num_classes: int,
        feat_dim: int,
        margin: float = 1.0,
        lambda_: float = 1.0,
        form: CenterForm = "margin",
        eps: float = 1.0,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ConfigError(
                f"the contrastive-center loss needs at least 2 classes, the data has {num_classes}"
            )
        if margin < 0:
            raise ParameterError("margin", margin, "must be >= 0")
        if lambda_ < 0:
            raise ParameterError("lambda_", lambda_, "must be >= 0")
        if form not in ("margin", "ratio"):
            raise ParameterError("form", form, "must be 'margin' or 'ratio'")
        self.num_classes = num_classes
        self.margin = float(margin)
        self.lambda_ = float(lambda_)
        self.form: CenterForm = form
        self.eps = float(eps)
        self.centers = nn.Parameter(torch.randn(num_classes, feat_dim))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> CenterLossTerms:
        centers = self.centers.to(embeddings.dtype)
        if self.form == "ratio":
            return self._ratio(embeddings, labels, centers)
        intra = (embeddings - centers[labels]).pow(2).sum(dim=1).mean()
        inter = self.inter_center_term(centers)
        return CenterLossTerms(intra + self.lambda_ * inter, intra, inter)

    def inter_center_term(self, centers: torch.Tensor) -> torch.Tensor:
        c = self.num_classes
        dist = _pairwise_distances(centers)
        off_diagonal = ~torch.eye(c, dtype=torch.bool, device=centers.device)
        hinge = (self.margin - dist[off_diagonal]).clamp(min=0).pow(2)
        return hinge.sum() / (c * (c - 1))

    def _ratio(
        self, embeddings: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor
    ) -> CenterLossTerms:
        sq = torch.cdist(embeddings, centers).pow(2)  # B×C
        own = sq.gather(1, labels[:, None]).squeeze(1)
        others = sq.sum(dim=1) - own
        intra = own.mean()
        inter = others.mean()
        total = 0.5 * (own / (others + self.eps)).mean()
        return CenterLossTerms(total, intra, inter)


def _pairwise_distances(points: torch.Tensor) -> torch.Tensor:
    """Euclidean distances with a safe gradient at zero distance (cdist's is NaN there)."""
    diff = points[:, None, :] - points[None, :, :]
    return diff.pow(2).sum(-1).clamp(min=1e-12).sqrt()
