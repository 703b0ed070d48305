"""Evaluation metrics computed on the penultimate-layer embeddings."""

from emotion_lab.metrics import embedding
from emotion_lab.metrics.embedding import *  # noqa: F403 -- the names of embedding.__all__

# The package offers what its submodule declares public, plus the lazy Lightning metric.
__all__ = ["EmbeddingClusterMetrics"]  # noqa: F405 -- served by __getattr__ below
__all__ += embedding.__all__


def __getattr__(name: str):
    # torch/torchmetrics load lazily so numpy-only users of the analysis stay light.
    if name == "EmbeddingClusterMetrics":
        from emotion_lab.metrics.lightning import EmbeddingClusterMetrics

        return EmbeddingClusterMetrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
