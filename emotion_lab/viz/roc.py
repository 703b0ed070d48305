"""One-vs-rest ROC curves per class (S002 reports one-vs-rest AUC per model).

Each class's curve treats that class as positive and every other class as negative, scored by the
softmax probability of that class, which is what torchmetrics' macro one-vs-rest AUROC averages.
A class with no positive or no negative test sample has no curve; it is listed as "n/a".

    python -m emotion_lab.viz.roc <run folder> [--classes a,b,...]

redraws ``figures/roc_curves.png`` from the run's ``test_embeddings.npz`` (``probs``, ``labels``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from emotion_lab.app.entry import one_line_errors
from emotion_lab.errors import UserError
from emotion_lab.viz.captions import with_detail
from emotion_lab.viz.plots import _new_figure, save_figure


@dataclass(frozen=True)
class ClassRoc:
    """One class's one-vs-rest curve; ``auc`` is NaN (and the curve empty) when undefined."""

    name: str
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def one_vs_rest_roc(
    probs: np.ndarray, labels: np.ndarray, classes: Sequence[str]
) -> list[ClassRoc]:
    """Per-class ROC of an N×C probability matrix against integer labels."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).ravel()
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(
            f"probs: expected N×C with N = {labels.shape[0]} labels, got {probs.shape}"
        )
    if probs.shape[1] != len(classes):
        raise ValueError(f"probs: {probs.shape[1]} columns for {len(classes)} classes")
    curves = []
    for k, name in enumerate(classes):
        positive = labels == k
        if positive.all() or not positive.any():
            empty = np.empty(0)
            curves.append(ClassRoc(str(name), empty, empty, float("nan")))
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        curves.append(ClassRoc(str(name), fpr, tpr, float(roc_auc_score(positive, probs[:, k]))))
    return curves


def plot_roc_curves(
    probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], title: str = "ROC (one vs rest)"
) -> Figure:
    """All classes' one-vs-rest curves on one axes, AUC per class in the legend, macro AUC above."""
    curves = one_vs_rest_roc(probs, labels, classes)
    fig = _new_figure(6.5, 5.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
    for curve in curves:
        if np.isnan(curve.auc):
            ax.plot([], [], " ", label=f"{curve.name}: n/a (one-sided test set)")
        else:
            ax.plot(curve.fpr, curve.tpr, linewidth=1.5, label=f"{curve.name}: AUC {curve.auc:.3f}")
    defined = [c.auc for c in curves if not np.isnan(c.auc)]
    macro = f"macro AUC {np.mean(defined):.3f}" if defined else "no class has a curve"
    ax.set_title(with_detail(title, macro, sep=", "))
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def save_roc_from_run(run_dir: Path, classes: Sequence[str] | None = None) -> Path:
    """``figures/roc_curves.png`` of a run folder from its ``test_embeddings.npz``."""
    source = Path(run_dir) / "test_embeddings.npz"
    if not source.is_file():
        raise UserError(f"{source}: not found (a run folder written by a test pass has it)")
    with np.load(source) as data:
        if "probs" not in data or "labels" not in data:
            raise UserError(f"{source}: has no probs/labels arrays")
        probs, labels = data["probs"], data["labels"]
    names = list(classes) if classes else [str(k) for k in range(probs.shape[1])]
    if len(names) != probs.shape[1]:
        raise UserError(f"--classes: {len(names)} names for {probs.shape[1]} columns in {source}")
    figure = plot_roc_curves(probs, labels, names)
    return save_figure(figure, Path(run_dir) / "figures" / "roc_curves.png")


@one_line_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--classes", default=None, help="comma-separated class names")
    args = parser.parse_args(argv)
    classes = args.classes.split(",") if args.classes else None
    print(save_roc_from_run(args.run_dir, classes))


if __name__ == "__main__":
    main()
