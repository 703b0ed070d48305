"""Evaluation pictures: confusion matrix, UMAP of embeddings, center distances, training curves.

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas instead of pyplot, so no
global backend or figure registry is touched (safe in headless runs and inside sweeps).
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from emotion_lab import files

__all__ = [
    "normalize_confusion",
    "plot_center_distances",
    "plot_confusion_matrix",
    "plot_embedding_2d",
    "plot_embedding_umap",
    "plot_training_curves",
    "rare_classes",
    "read_metrics_csv",
    "save_figure",
    "subsample_indices",
    "training_series",
    "umap_2d",
    "umap_with_points",
    "epoch_values",
]

# Lightning's CSVLogger column names for each curve, most specific first: epoch aggregates win
# over per-step values when both were logged.
CURVE_COLUMNS: dict[str, tuple[str, ...]] = {
    "train_loss": ("train/loss_epoch", "train_loss_epoch", "train/loss", "train_loss"),
    "val_loss": ("val/loss_epoch", "val_loss_epoch", "val/loss", "val_loss"),
    "train_ce": ("train/ce_epoch", "train/ce"),
    "val_ce": ("val/ce_epoch", "val/ce"),
    "train_center": ("train/center_epoch", "train/center"),
    "train_intra": ("train/intra_epoch", "train/intra"),
    "train_inter": ("train/inter_epoch", "train/inter"),
    "train_acc": ("train/acc_epoch", "train_acc_epoch", "train/acc", "train_acc"),
    "val_acc": ("val/acc_epoch", "val_acc_epoch", "val/acc", "val_acc"),
}
LR_PREFIX = "lr-"
"""LearningRateMonitor's columns (``lr-Adam``, ``lr-SGD/pg1``); logged without an epoch."""

# The panels of the training-curve figure: (title, y label, [(curve, label, style)]).
_PANELS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "loss",
        "loss",
        (
            ("train_loss", "train total", "-o"),
            ("val_loss", "val total", "-s"),
            ("train_ce", "train CE", "--o"),
            ("val_ce", "val CE", "--s"),
        ),
    ),
    (
        "center terms (train)",
        "center loss",
        (
            ("train_center", "center (intra + λ·inter)", "-o"),
            ("train_intra", "intra", ":^"),
            ("train_inter", "inter", ":v"),
        ),
    ),
    ("accuracy", "accuracy", (("train_acc", "train", "-o"), ("val_acc", "val", "-s"))),
    ("learning rate", "learning rate", (("lr", "lr", "-o"),)),
)

_DPI = 100


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as PNG (0644, atomically) and release the figure.

    The atomic rename means a reader (a report, W&B upload) never sees a half-written image.
    """
    target = Path(path)
    try:
        with files.atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        _close(fig)
    return target


def _close(fig: Figure) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # only pyplot keeps a registry that must be told
        pyplot.close(fig)
    fig.clear()


def _check_classes(classes: Sequence[str], size: int, what: str) -> list[str]:
    names = [str(c) for c in classes]
    if len(names) != size:
        raise ValueError(f"classes: {len(names)} names given for a {what} of size {size}")
    return names


def _annotate(ax: Any, texts: np.ndarray, shade: np.ndarray, fontsize: float) -> None:
    """Write each cell's text in black or white depending on the cell's colour intensity."""
    for (i, j), text in np.ndenumerate(texts):
        color = "white" if shade[i, j] > 0.55 else "black"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)


def _cell_fontsize(size: int) -> float:
    return max(5.0, min(10.0, 80.0 / max(size, 1)))


def normalize_confusion(cm: Any) -> np.ndarray:
    """Row-normalise counts to per-true-class recall; rows without samples stay all zero."""
    counts = np.asarray(cm, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def plot_confusion_matrix(
    cm: Any,
    classes: Sequence[str],
    normalize: bool = True,
    title: str = "Confusion matrix",
) -> Figure:
    """Heat map of a C x C confusion matrix (rows: true class, columns: predicted).

    With ``normalize`` the colours and the main number are row percentages and the count is
    shown beneath; otherwise colours and text are counts.
    """
    counts = np.asarray(cm.detach().cpu() if hasattr(cm, "detach") else cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"cm: expected a square matrix, got shape {counts.shape}")
    if (counts < 0).any():
        raise ValueError("cm: counts must be non-negative")
    names = _check_classes(classes, counts.shape[0], "confusion matrix")
    size = len(names)
    data = normalize_confusion(counts) if normalize else counts.astype(np.float64)

    side = max(4.5, 0.75 * size + 2.5)
    fig = _new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    vmax = 1.0 if normalize else max(float(data.max()), 1.0)
    image = ax.imshow(data, cmap="Blues", vmin=0.0, vmax=vmax)
    fig.colorbar(
        image, ax=ax, fraction=0.046, pad=0.04, label="row share" if normalize else "count"
    )
    if normalize:
        texts = np.array(
            [
                [f"{data[i, j]:.0%}\n({int(round(counts[i, j]))})" for j in range(size)]
                for i in range(size)
            ]
        )
    else:
        texts = np.array([[f"{counts[i, j]:g}" for j in range(size)] for i in range(size)])
    _annotate(ax, texts, data / vmax, _cell_fontsize(size))
    ax.set_xticks(range(size), names, rotation=45, ha="right")
    ax.set_yticks(range(size), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def subsample_indices(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted, seed-determined subset of ``range(n)`` with at most ``max_points`` entries."""
    if max_points < 1:
        raise ValueError(f"max_points: expected a positive integer, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _embedding_array(emb: Any) -> np.ndarray:
    x = np.asarray(emb.detach().cpu() if hasattr(emb, "detach") else emb, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings: expected a 2-D array, got shape {x.shape}")
    if x.shape[0] < 4:
        raise ValueError(f"embeddings: UMAP needs at least 4 samples, got {x.shape[0]}")
    return x


def _fit_umap(x: np.ndarray, seed: int, n_neighbors: int, min_dist: float) -> Any:
    import umap  # deferred: importing umap compiles numba code and takes seconds

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(n_neighbors, len(x) - 1),
        min_dist=min_dist,
        random_state=seed,
        n_jobs=1,  # what a fixed random_state implies anyway; avoids umap's warning
    )
    reducer.fit(x)
    return reducer


def umap_2d(
    emb: Any,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    max_points: int = 20_000,
) -> tuple[np.ndarray, np.ndarray]:
    """UMAP projection to 2-D of at most ``max_points`` embeddings.

    Returns ``(coords, indices)``: the m x 2 coordinates and the rows of ``emb`` they belong to.
    A fixed ``random_state`` makes UMAP deterministic (it then runs single-threaded).
    """
    x = _embedding_array(emb)
    indices = subsample_indices(x.shape[0], max_points, seed)
    reducer = _fit_umap(x[indices], seed, n_neighbors, min_dist)
    return np.asarray(reducer.embedding_, dtype=np.float64), indices


def umap_with_points(
    emb: Any,
    points: Any,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    max_points: int = 20_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`umap_2d` plus ``points`` (e.g. learned class centers) placed into the same map.

    The points are projected with the fitted map (``transform``) rather than fitted with the
    data, so a few centers cannot move the samples' layout; each lands among its nearest samples.
    """
    x = _embedding_array(emb)
    extra = np.asarray(
        points.detach().cpu() if hasattr(points, "detach") else points, dtype=np.float32
    )
    if extra.ndim != 2 or extra.shape[1] != x.shape[1]:
        raise ValueError(f"points: expected shape (k, {x.shape[1]}), got {extra.shape}")
    indices = subsample_indices(x.shape[0], max_points, seed)
    reducer = _fit_umap(x[indices], seed, n_neighbors, min_dist)
    coords = np.asarray(reducer.embedding_, dtype=np.float64)
    return coords, indices, np.asarray(reducer.transform(extra), dtype=np.float64)


def _class_colors(count: int) -> ListedColormap:
    from matplotlib import colormaps

    base = colormaps["tab10" if count <= 10 else "tab20"]
    return ListedColormap([base(i % base.N) for i in range(count)])


RARE_SHARE = 0.5
"""A class is rare below this share of the median class count; its points are drawn last and
larger, so a few samples of it stay visible among thousands of others."""


def rare_classes(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Boolean mask over classes: present, and counted below :data:`RARE_SHARE` x the median."""
    counts = np.bincount(labels.astype(np.int64), minlength=n_classes)[:n_classes]
    present = counts > 0
    if not present.any():
        return present
    return present & (counts < RARE_SHARE * float(np.median(counts[present])))


def scatter_by_class(
    ax: Any, xy: np.ndarray, labels: np.ndarray, colors: Any, n_classes: int, size: float
) -> None:
    """2-D points coloured by class, drawn in a fixed random order so that no class is painted
    over all the others; rare classes (:func:`rare_classes`) come last, at 2.5x the size."""
    labels = labels.astype(np.int64)
    rare = rare_classes(labels, n_classes)[labels]
    shuffled = np.random.default_rng(0).permutation(len(labels))
    order = shuffled[np.argsort(rare[shuffled], kind="stable")]
    ax.scatter(
        xy[order, 0],
        xy[order, 1],
        c=labels[order],
        cmap=colors,
        vmin=-0.5,
        vmax=n_classes - 0.5,
        s=np.where(rare[order], 2.5 * size, size),
        alpha=0.75,
        linewidths=0,
    )


def plot_embedding_2d(
    coords: Any,
    labels: Any,
    classes: Sequence[str],
    title: str = "UMAP of test embeddings",
    centers: Any = None,
) -> Figure:
    """Scatter of 2-D coordinates coloured by true class, with a legend of class names and
    counts; ``centers`` (one 2-D point per class) are drawn as labelled crosses."""
    xy = np.asarray(coords, dtype=np.float64)
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"coords: expected shape (n, 2), got {xy.shape}")
    if y.shape != (xy.shape[0],):
        raise ValueError(f"labels: expected shape ({xy.shape[0]},), got {y.shape}")
    names = [str(c) for c in classes]
    if y.size and (y.min() < 0 or y.max() >= len(names)):
        raise ValueError(f"labels: values must lie in [0, {len(names) - 1}] for the given classes")
    colors = _class_colors(len(names))
    fig = _new_figure(8.0, 6.5)
    ax = fig.add_subplot()
    scatter_by_class(ax, xy, y, colors, len(names), float(np.clip(3000.0 / max(len(y), 1), 1, 25)))
    counts = np.bincount(y.astype(np.int64), minlength=len(names))
    rare = rare_classes(y, len(names))
    for index, name in enumerate(names):
        if counts[index]:
            note = ", rare" if rare[index] else ""
            ax.scatter([], [], color=colors(index), label=f"{name} ({counts[index]}{note})", s=30)
    if centers is not None:
        _draw_centers(ax, np.asarray(centers, dtype=np.float64), names, colors)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, title="true class")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _draw_centers(ax: Any, centers: np.ndarray, names: list[str], colors: Any) -> None:
    if centers.shape != (len(names), 2):
        raise ValueError(f"centers: expected shape ({len(names)}, 2), got {centers.shape}")
    ax.scatter(
        centers[:, 0],
        centers[:, 1],
        c=np.arange(len(names)),
        cmap=colors,
        vmin=-0.5,
        vmax=len(names) - 0.5,
        marker="X",
        s=180,
        edgecolors="black",
        linewidths=1.2,
        zorder=3,
    )
    for (x, y), name in zip(centers, names, strict=True):
        ax.annotate(
            name,
            (x, y),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=8,
            weight="bold",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
        )
    ax.scatter([], [], marker="X", color="white", edgecolors="black", s=80, label="learned center")


def plot_embedding_umap(
    emb: Any,
    labels: Any,
    classes: Sequence[str],
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    max_points: int = 20_000,
    title: str = "UMAP of test embeddings",
    centers: Any = None,
) -> Figure:
    """UMAP of the embeddings coloured by true class, with the learned class ``centers`` (in
    embedding space) projected into the map when given."""
    y = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels)
    if centers is None:
        coords, indices = umap_2d(emb, seed, n_neighbors, min_dist, max_points)
        center_xy = None
    else:
        coords, indices, center_xy = umap_with_points(
            emb, centers, seed, n_neighbors, min_dist, max_points
        )
    if y.shape[0] <= indices.max():
        raise ValueError(f"labels: {y.shape[0]} labels for {indices.max() + 1}+ embeddings")
    return plot_embedding_2d(coords, y[indices], classes, title, centers=center_xy)


def plot_center_distances(
    dist: Any,
    classes: Sequence[str],
    title: str = "Distances between learned class centers",
    margin: float | None = None,
) -> Figure:
    """Annotated heat map of the C x C center distance matrix (large = well separated).

    The diagonal (a center's distance to itself) is masked. With ``margin`` (the
    contrastive-center loss's hinge) the colour bar marks it and pairs closer than it, the
    ones the loss still pushes apart, are outlined in red.
    """
    d = np.asarray(dist.detach().cpu() if hasattr(dist, "detach") else dist, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"dist: expected a square matrix, got shape {d.shape}")
    names = _check_classes(classes, d.shape[0], "distance matrix")
    size = len(names)
    off = ~np.eye(size, dtype=bool)
    side = max(4.5, 0.75 * size + 2.5)
    fig = _new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    values = d[off]
    vmax = max(float(values.max()) if values.size else 0.0, margin or 0.0, 1e-12)
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.masked_array(d, mask=~off), cmap=cmap, vmin=0.0, vmax=vmax)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Euclidean distance")
    digits = 2 if vmax < 100 else 0
    texts = np.array(
        [[f"{d[i, j]:.{digits}f}" if i != j else "" for j in range(size)] for i in range(size)]
    )
    # viridis is dark at the low end, so invert the text-colour rule.
    _annotate(ax, texts, 1.0 - d / vmax, _cell_fontsize(size))
    if margin is not None:
        from matplotlib.patches import Rectangle

        bar.ax.axhline(margin, color="red", linewidth=2)
        close = list(zip(*np.nonzero(off & (d < margin)), strict=True))
        for i, j in close:
            ax.add_patch(
                Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2)
            )
        handle = Rectangle((0, 0), 1, 1, fill=False, edgecolor="red", linewidth=2)
        ax.legend(
            [handle],
            [
                f"{len(close) // 2} pair(s) closer than the margin {margin:g}, which the loss"
                " pushes apart (margin: red line on the bar)"
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            frameon=False,
            fontsize=8,
        )
    ax.set_xticks(range(size), names, rotation=45, ha="right")
    ax.set_yticks(range(size), names)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _parse_number(text: str, source: str, row: int, column: str) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"{source}: row {row}, column {column!r}: not a number: {text!r}"
        ) from None


def read_metrics_csv(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Rows of a Lightning ``metrics.csv`` with empty cells dropped (rows are sparse)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"metrics file not found: {file}")
    rows: list[dict[str, float]] = []
    with file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise ValueError(f"{file}: empty file, expected a CSV header")
        for line, record in enumerate(reader, start=2):
            if None in record:
                raise ValueError(f"{file}: row {line} has more cells than the header")
            row = {}
            for key, text in record.items():
                value = _parse_number(text, str(file), line, key)
                if value is not None:
                    row[key] = value
            rows.append(row)
    return rows


def epoch_values(
    rows: Sequence[Mapping[str, float]], column: str, source: str = "metrics"
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(epochs, values)`` of one column, several values in an epoch averaged; None if empty."""
    per_epoch: dict[int, list[float]] = {}
    for index, row in enumerate(rows):
        if column not in row or not math.isfinite(row[column]):
            continue
        if "epoch" not in row:
            raise ValueError(f"{source}: row {index + 1} has {column!r} but no 'epoch' value")
        per_epoch.setdefault(int(row["epoch"]), []).append(float(row[column]))
    if not per_epoch:
        return None
    epochs = np.array(sorted(per_epoch))
    return epochs, np.array([np.mean(per_epoch[e]) for e in epochs])


def _lr_values(rows: Sequence[Mapping[str, float]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The first optimizer's learning rate per epoch. Its rows carry a step but no epoch: a
    value at step s belongs to the first epoch that ends at or after s."""
    column = next((k for row in rows for k in row if k.startswith(LR_PREFIX)), None)
    if column is None:
        return None
    ends: dict[int, float] = {}
    for row in rows:
        if "epoch" in row and "step" in row:
            epoch = int(row["epoch"])
            ends[epoch] = max(ends.get(epoch, -math.inf), row["step"])
    if not ends:
        return None
    epochs = sorted(ends)
    dated = []
    for row in rows:
        if column in row and "step" in row and math.isfinite(row[column]):
            epoch = next((e for e in epochs if ends[e] >= row["step"]), None)
            if epoch is not None:
                dated.append({"epoch": float(epoch), column: row[column]})
    return epoch_values(dated, column) if dated else None


def training_series(
    rows: Iterable[Mapping[str, float]], source: str = "metrics"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-epoch curves found in sparse metric rows: name -> (epochs, values).

    For each curve the first column of :data:`CURVE_COLUMNS` that has values is used; several
    values in one epoch (per-step logging) are averaged. ``lr`` is the learning rate.
    """
    table = list(rows)
    columns = {key for row in table for key in row}
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, candidates in CURVE_COLUMNS.items():
        column = next((c for c in candidates if c in columns), None)
        found = None if column is None else epoch_values(table, column, source)
        if found is not None:
            series[name] = found
    lr = _lr_values(table)
    if lr is not None:
        series["lr"] = lr
    return series


def plot_training_curves(
    source: str | os.PathLike[str] | Iterable[Mapping[str, float]],
    title: str = "Training curves",
    best: tuple[int, str] | None = None,
) -> Figure:
    """Per-epoch panels: total and CE loss, the center terms, accuracy and the learning rate,
    each drawn when logged. ``best`` is ``(epoch, label)`` of the kept checkpoint, marked on
    every panel.

    ``source`` is a CSVLogger ``metrics.csv`` path or already-parsed rows (dicts).
    """
    if isinstance(source, (str, os.PathLike)):
        rows: list[Mapping[str, float]] = list(read_metrics_csv(source))
        label = str(source)
    else:
        rows = list(source)
        label = "metrics rows"
    series = training_series(rows, label)
    panels = [p for p in _PANELS if any(curve in series for curve, _, _ in p[2])]
    if not panels:
        wanted = sorted({c for cols in CURVE_COLUMNS.values() for c in cols})
        raise ValueError(f"{label}: none of the curve columns {wanted} has values")
    columns = len(panels) if len(panels) <= 3 else 2
    grid_rows = math.ceil(len(panels) / columns)
    fig = _new_figure(5.0 * columns, 3.8 * grid_rows + 0.4)
    axes = fig.subplots(grid_rows, columns, squeeze=False).ravel()
    shown = {int(e) for epochs, _ in series.values() for e in epochs}
    for ax, (name, ylabel, curves) in zip(axes, panels, strict=False):
        for curve, curve_label, style in curves:
            if curve in series:
                epochs, values = series[curve]
                ax.plot(epochs, values, style, label=curve_label, markersize=3)
        if name == "learning rate" and _spans_decades(series["lr"][1]):
            ax.set_yscale("log")
        if best is not None:
            ax.axvline(best[0], color="crimson", linestyle="--", linewidth=1, label=best[1])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(shown) == 1:  # one epoch: the locator would label fractions around it
            ax.set_xticks(sorted(shown))
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _spans_decades(values: np.ndarray) -> bool:
    positive = values[values > 0]
    return positive.size > 1 and float(positive.max() / positive.min()) >= 10.0
