"""Evaluation metrics computed on the penultimate-layer embeddings."""

from emotion_lab.metrics.embedding import (
    ambiguity_threshold,
    ambiguous_sample_ratio,
    center_distance_matrix,
    clustering_scores,
    embedding_report,
    kmeans_clustering,
    pair_rank,
    pairwise_distances,
)

__all__ = [
    "EmbeddingClusterMetrics",
    "ambiguity_threshold",
    "ambiguous_sample_ratio",
    "center_distance_matrix",
    "clustering_scores",
    "embedding_report",
    "kmeans_clustering",
    "pair_rank",
    "pairwise_distances",
]


def __getattr__(name: str):
    # torch/torchmetrics load lazily so numpy-only users of the analysis stay light.
    if name == "EmbeddingClusterMetrics":
        from emotion_lab.metrics.lightning import EmbeddingClusterMetrics

        return EmbeddingClusterMetrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
