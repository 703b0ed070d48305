"""The training objective: cross-entropy plus β·contrastive-center, with every term reported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from emotion_lab.errors import ParameterError
from emotion_lab.losses.contrastive_center import CenterForm, ContrastiveCenterLoss

ClassWeights = Literal["balanced"] | Sequence[float] | None


def balanced_class_weights(class_counts: Sequence[int]) -> torch.Tensor:
    """scikit-learn's "balanced" rule: n_samples / (n_classes · count_c); absent classes get 0."""
    counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
    n_present = int((counts > 0).sum())
    weights = torch.where(counts > 0, counts.sum() / (n_present * counts.clamp(min=1)), 0.0)
    return weights.float()


class EmotionLoss(nn.Module):
    """``CE + β·(L_intra + λ·L_inter)``; with ``beta=0`` and no centers it is plain cross-entropy.

    ``forward`` returns a dict of named terms so the LightningModule can log each one; the key
    ``loss`` is the value to back-propagate.
    """

    def __init__(
        self,
        num_classes: int,
        feat_dim: int,
        beta: float = 0.0,
        margin: float = 1.0,
        lambda_: float = 1.0,
        center_form: CenterForm = "margin",
        use_centers: bool = True,
        class_weights: ClassWeights = None,
        class_counts: Sequence[int] | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if beta < 0:
            raise ParameterError("beta", beta, "must be >= 0")
        if not 0.0 <= label_smoothing < 1.0:
            raise ParameterError("label_smoothing", label_smoothing, "must be in [0, 1)")
        self.beta = float(beta)
        self.label_smoothing = float(label_smoothing)
        self.center: ContrastiveCenterLoss | None = None
        if use_centers:
            try:
                self.center = ContrastiveCenterLoss(
                    num_classes, feat_dim, margin, lambda_, center_form
                )
            except ParameterError as exc:  # the center loss calls it form
                if exc.parameter != "form":
                    raise
                raise ParameterError("center_form", exc.value, exc.problem) from None
            if self.beta == 0:
                # The centers are only measured, never trained: a parameter that gets no gradient
                # would make DDP wait forever for its reduction.
                self.center.centers.requires_grad_(False)
        weight = self._resolve_weights(class_weights, class_counts, num_classes)
        self.register_buffer("class_weight", weight, persistent=False)

    @staticmethod
    def _resolve_weights(
        spec: ClassWeights, counts: Sequence[int] | None, num_classes: int
    ) -> torch.Tensor | None:
        if spec is None:
            return None
        if isinstance(spec, str):
            if spec != "balanced":
                raise ParameterError("class_weights", spec, "must be null, 'balanced' or a list")
            if counts is None:
                raise ValueError("class_weights='balanced' needs the training class counts")
            return balanced_class_weights(counts)
        weights = torch.as_tensor(list(spec), dtype=torch.float32)
        if weights.numel() != num_classes:
            raise ParameterError(
                "class_weights", list(spec), f"{weights.numel()} values for {num_classes} classes"
            )
        return weights

    @property
    def centers(self) -> torch.Tensor | None:
        return None if self.center is None else self.center.centers

    def forward(
        self, logits: torch.Tensor, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``labels``: class indices (N), or soft targets (N×C float, rows summing to 1, e.g.
        FER+ vote distributions), which the cross-entropy takes as class probabilities and the
        center terms as their argmax."""
        soft = labels.dim() == 2
        ce = F.cross_entropy(
            logits.float(),
            labels.float() if soft else labels,
            weight=self.class_weight,
            label_smoothing=self.label_smoothing,
        )
        terms = {"ce": ce}
        total = ce
        if self.center is not None:
            hard = labels.argmax(dim=1) if soft else labels
            center = self.center(embeddings.float(), hard)
            terms.update(center=center.total, intra=center.intra, inter=center.inter)
            if self.beta > 0:
                total = total + self.beta * center.total
        terms["loss"] = total
        return terms

    def unweighted_ce(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The cross-entropy without class weights: what Keras's ``val_loss`` reports (class
        weights act on training only), which papers written in Keras monitor."""
        soft = labels.dim() == 2
        return F.cross_entropy(
            logits.float(),
            labels.float() if soft else labels,
            label_smoothing=self.label_smoothing,
        )
