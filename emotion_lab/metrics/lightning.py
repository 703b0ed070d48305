"""torchmetrics wrapper that gathers test embeddings across steps (and processes) for cluster analysis.

k-means and the pairwise-distance threshold need the whole test set at once, so ``update`` only
concatenates; the analysis runs in ``compute`` on CPU via :func:`embedding_report`.

Learned class centers (from the contrastive-center loss) are not metric state: they are one
parameter tensor owned by the loss. Pass them explicitly with ``compute_with_centers(centers)``,
which also returns ``asr_class_centers``; plain ``compute()`` returns the center-free scalars.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from emotion_lab.metrics.embedding import embedding_report

__all__ = ["EmbeddingClusterMetrics"]

_SCALAR_KEYS = ("ari", "nmi", "asr_kmeans", "delta", "asr_class_centers")


class EmbeddingClusterMetrics(Metric):
    """ARI, NMI (k-means with k = num_classes), delta and ASR of accumulated embeddings."""

    is_differentiable = False
    higher_is_better = None  # mixed: ARI/NMI up, ASR down
    full_state_update = False

    embeddings: list[torch.Tensor]
    labels: list[torch.Tensor]

    def __init__(
        self, num_classes: int, seed: int = 0, quantile: float = 0.1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes: expected a positive integer, got {num_classes!r}")
        if not 0.0 < float(quantile) <= 1.0:
            raise ValueError(f"quantile: expected a number in (0, 1], got {quantile!r}")
        self.num_classes = num_classes
        self.seed = seed
        self.quantile = float(quantile)
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        if embeddings.ndim != 2:
            raise ValueError(
                f"embeddings: expected shape (batch, dim), got {tuple(embeddings.shape)}"
            )
        if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
            raise ValueError(
                f"labels: expected shape ({embeddings.shape[0]},), got {tuple(labels.shape)}"
            )
        # float32 on the metric's device: half-precision embeddings would distort distances.
        self.embeddings.append(embeddings.detach().float())
        self.labels.append(labels.detach().long())

    def _report(self, centers: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if not self.embeddings:
            raise ValueError(
                "EmbeddingClusterMetrics: no embeddings accumulated; call update first"
            )
        emb = dim_zero_cat(self.embeddings)
        labels = dim_zero_cat(self.labels)
        report = embedding_report(
            emb,
            labels,
            self.num_classes,
            learned_centers=None if centers is None else centers.detach().float(),
            seed=self.seed,
            quantile=self.quantile,
        )
        return {
            key: torch.tensor(float(report[key]), dtype=torch.float64)
            for key in _SCALAR_KEYS
            if key in report
        }

    def compute(self) -> dict[str, torch.Tensor]:
        """Scalars ``ari``, ``nmi``, ``asr_kmeans`` and ``delta`` as 0-d float64 tensors."""
        return self._report(None)

    def compute_with_centers(self, centers: torch.Tensor) -> dict[str, torch.Tensor]:
        """As :meth:`compute`, plus ``asr_class_centers`` for the given C x D learned centers.

        Not cached (the centers are an argument); states are synchronised across processes
        exactly as in ``compute``.
        """
        with self.sync_context():
            return self._report(centers)
