"""Pictures of a comparison: a forest plot of group means with CIs, and UMAPs side by side.

Built like :mod:`emotion_lab.viz.plots` (Agg-canvas figures, no pyplot state) and reusing its
UMAP projection and class colours, so a run's own UMAP and a comparison's look alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from emotion_lab.comparison.stats import Interval
from emotion_lab.viz.plots import _class_colors, _new_figure, scatter_by_class, umap_2d


def plot_forest(
    metrics: Sequence[str],
    groups: Sequence[str],
    intervals: Mapping[tuple[str, str], Interval],
    reference: str | None = None,
    title: str = "mean and 95 % t-interval per group",
) -> Figure:
    """One panel a metric, one row a group: the mean as a dot, its interval as a bar.

    The reference group's mean is a dashed line, so "does this bar cross the line" reads off
    directly. A group of one run has a dot and no bar.
    """
    if not metrics or not groups:
        raise ValueError("plot_forest needs at least one metric and one group")
    width = max(3.2 * len(metrics), 5.0)
    fig = _new_figure(width, 0.9 + 0.45 * len(groups))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    ys = np.arange(len(groups))[::-1]
    for ax, metric in zip(axes, metrics, strict=True):
        for y, group in zip(ys, groups, strict=True):
            iv = intervals[(metric, group)]
            color = "tab:red" if group == reference else "tab:blue"
            if math.isfinite(iv.low) and math.isfinite(iv.high):
                ax.plot([iv.low, iv.high], [y, y], color=color, lw=2, solid_capstyle="butt")
            ax.plot([iv.mean], [y], "o", color=color, ms=5)
        if reference is not None:
            ax.axvline(intervals[(metric, reference)].mean, color="tab:red", ls="--", lw=0.8)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.9")
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels(list(groups), fontsize=8)
    axes[0].set_ylim(-0.7, len(groups) - 0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class EmbeddingPanel:
    """One UMAP panel: its title, the run's test embeddings and their true labels."""

    title: str
    embeddings: np.ndarray
    labels: np.ndarray


def plot_umaps_side_by_side(
    panels: Sequence[EmbeddingPanel],
    classes: Sequence[str],
    seed: int = 0,
    max_points: int = 5000,
) -> Figure:
    """UMAPs of several runs' test embeddings in one row, coloured by true class, one legend."""
    if not panels:
        raise ValueError("plot_umaps_side_by_side needs at least one run")
    names = [str(c) for c in classes]
    colors = _class_colors(len(names))
    fig = _new_figure(4.2 * len(panels) + 1.6, 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        coords, indices = umap_2d(panel.embeddings, seed=seed, max_points=max_points)
        labels = np.asarray(panel.labels)[indices]
        if labels.size and labels.max() >= len(names):
            raise ValueError(f"{panel.title}: label {labels.max()} but {len(names)} classes")
        size = float(np.clip(4000.0 / max(len(labels), 1), 2.0, 16.0))
        scatter_by_class(ax, coords, labels, colors, len(names), size)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(panel.title, fontsize=9)
    for index, name in enumerate(names):
        axes[-1].scatter([], [], color=colors(index), label=name, s=30)
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
