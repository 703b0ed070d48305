"""Pictures and the markdown report of an evaluated run."""

from emotion_lab.viz.plots import (
    normalize_confusion,
    plot_center_distances,
    plot_confusion_matrix,
    plot_embedding_2d,
    plot_embedding_umap,
    plot_training_curves,
    read_metrics_csv,
    save_figure,
    subsample_indices,
    training_series,
    umap_2d,
)
from emotion_lab.viz.report import format_value, markdown_table, write_report

__all__ = [
    "format_value",
    "markdown_table",
    "normalize_confusion",
    "plot_center_distances",
    "plot_confusion_matrix",
    "plot_embedding_2d",
    "plot_embedding_umap",
    "plot_training_curves",
    "read_metrics_csv",
    "save_figure",
    "subsample_indices",
    "training_series",
    "umap_2d",
    "write_report",
]
