"""The test pass as W&B panels: confusion matrix, per-class ROC and PR curves, the predictions
most worth looking at (with thumbnails), and the embeddings for W&B's projector.

Inert without a WandbLogger. It takes the test outputs that :class:`TestAnalysis` already
gathered over every rank (gathering them itself only when that callback is absent), and logs on
rank 0 alone. Tables are capped so that a large test set does not make an unopenable run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from sklearn.metrics import precision_recall_curve

from emotion_lab.callbacks.analysis import TestAnalysis
from emotion_lab.viz.roc import one_vs_rest_roc

log = logging.getLogger(__name__)

CURVE_SPEC = "wandb/area-under-curve/v0"  # the chart behind wandb.plot.roc_curve / pr_curve


def most_confused_order(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Sample indices, wrong predictions first, each group by the least probability on the truth."""
    p_true = probs[np.arange(len(labels)), labels]
    correct = probs.argmax(axis=1) == labels
    return np.lexsort((np.arange(len(labels)), p_true, correct))


def thin(points: int, keep: int) -> np.ndarray:
    """At most ``keep`` evenly spread indices of ``points``, first and last included."""
    if points <= keep:
        return np.arange(points)
    return np.unique(np.linspace(0, points - 1, keep).round().astype(int))


def curve_rows(
    probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], max_points: int
) -> tuple[list[list[Any]], list[list[Any]]]:
    """(ROC rows [class, fpr, tpr], PR rows [class, recall, precision]), one-vs-rest per class,
    each curve thinned to ``max_points``; a class without positives or negatives has none."""
    roc: list[list[Any]] = []
    pr: list[list[Any]] = []
    for k, curve in enumerate(one_vs_rest_roc(probs, labels, classes)):
        if not len(curve.fpr):
            continue
        roc += [
            [curve.name, float(curve.fpr[i]), float(curve.tpr[i])]
            for i in thin(len(curve.fpr), max_points)
        ]
        precision, recall, _ = precision_recall_curve(labels == k, probs[:, k])
        pr += [
            [curve.name, float(recall[i]), float(precision[i])]
            for i in thin(len(recall), max_points)
        ]
    return roc, pr


class WandbMedia(pl.Callback):
    """Logs the test pass's interactive W&B media (see the module docstring)."""

    def __init__(
        self,
        max_predictions: int = 200,
        max_embeddings: int = 2000,
        max_embedding_dims: int = 64,
        max_curve_points: int = 200,
        thumbnail_px: int = 64,
        seed: int = 0,
    ) -> None:
        self.max_predictions = max_predictions
        self.max_embeddings = max_embeddings
        self.max_embedding_dims = max_embedding_dims
        self.max_curve_points = max_curve_points
        self.thumbnail_px = thumbnail_px
        self.seed = seed
        self.logged: list[str] = []

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)
        if logger is None:
            return  # the same on every rank: no rank waits in a gather for the others
        results = self._results(trainer, pl_module)
        if not trainer.is_global_zero:
            return
        import wandb

        classes = [str(c) for c in pl_module.classes]  # type: ignore[union-attr]
        labels = results["labels"].numpy().astype(np.int64)
        probs = results["probs"].numpy().astype(np.float64)
        if not len(labels):
            return
        preds = probs.argmax(axis=1)
        media: dict[str, Any] = {
            "test/confusion_matrix": wandb.plot.confusion_matrix(
                y_true=labels.tolist(), preds=preds.tolist(), class_names=classes
            )
        }
        roc, pr = curve_rows(probs, labels, classes, self.max_curve_points)
        for key, rows, axes in (
            ("test/roc_curves", roc, ("fpr", "tpr", "False positive rate", "True positive rate")),
            ("test/pr_curves", pr, ("recall", "precision", "Recall", "Precision")),
        ):
            if rows:
                table = wandb.Table(columns=["class", axes[0], axes[1]], data=rows)
                media[key] = wandb.plot_table(
                    CURVE_SPEC,
                    table,
                    {"x": axes[0], "y": axes[1], "class": "class"},
                    {"title": key.split("/")[1], "x-axis-title": axes[2], "y-axis-title": axes[3]},
                )
        media["test/predictions"] = self._predictions(trainer, probs, labels, classes)
        media["test/embeddings"] = self._embeddings(
            results["embeddings"].numpy(), [classes[i] for i in labels], [classes[i] for i in preds]
        )
        logger.experiment.log(media)
        self.logged = sorted(media)

    @staticmethod
    def _results(trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, torch.Tensor]:
        """The analysis callback's gathered outputs when it ran before this one, else gathered
        here (a collective: this runs on every rank)."""
        callbacks = list(trainer.callbacks)  # type: ignore[attr-defined]
        me = next(i for i, c in enumerate(callbacks) if isinstance(c, WandbMedia))
        for callback in callbacks[:me]:
            if isinstance(callback, TestAnalysis) and callback.results:
                return callback.results
        return pl_module.test_results()  # type: ignore[operator]

    def _predictions(
        self, trainer: pl.Trainer, probs: np.ndarray, labels: np.ndarray, classes: list[str]
    ) -> Any:
        import wandb

        order = most_confused_order(probs, labels)[: self.max_predictions]
        thumbnails = self._thumbnails(trainer, order, len(labels))
        columns = ["index", "image", "true", "predicted", "p_true", *(f"p_{c}" for c in classes)]
        rows = []
        for row, i in enumerate(order):
            image = wandb.Image(thumbnails[row]) if thumbnails is not None else None
            p = probs[i]
            rows.append(
                [int(i), image, classes[labels[i]], classes[int(p.argmax())], float(p[labels[i]])]
                + [float(v) for v in p]
            )
        return wandb.Table(columns=columns, data=rows)

    def _thumbnails(
        self, trainer: pl.Trainer, order: np.ndarray, n: int
    ) -> list[np.ndarray] | None:
        """The test images at ``order`` as H×W×C uint8 no larger than ``thumbnail_px``; None when
        the test split cannot be matched to the outputs row for row."""
        from PIL import Image

        split = getattr(trainer.datamodule, "splits", {}).get("test")
        if split is None or len(split) != n:
            log.warning("W&B predictions table without images: test split and outputs differ")
            return None
        images, _ = split.__getitems__(order.tolist())
        out = []
        for chw in images.cpu().numpy():
            hwc = np.ascontiguousarray(chw.transpose(1, 2, 0))
            picture = Image.fromarray(hwc[..., 0] if hwc.shape[2] == 1 else hwc)
            picture.thumbnail((self.thumbnail_px, self.thumbnail_px))
            out.append(np.asarray(picture))
        return out

    def _embeddings(self, embeddings: np.ndarray, true: list[str], predicted: list[str]) -> Any:
        """Up to ``max_embeddings`` rows (a seeded sample) in the layout W&B's projector reads;
        wider embeddings are PCA-projected to ``max_embedding_dims`` (the projector's own PCA,
        UMAP and t-SNE then run on a table of a few MB, not of hundreds)."""
        import wandb
        from sklearn.decomposition import PCA

        rows = np.arange(len(true))
        if len(rows) > self.max_embeddings:
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(rows, self.max_embeddings, replace=False))
        vectors = embeddings[rows].astype(np.float64)
        dims = min(self.max_embedding_dims, len(rows))
        if vectors.shape[1] > self.max_embedding_dims and dims > 0:
            vectors = PCA(n_components=dims, random_state=self.seed).fit_transform(vectors)
        data = [
            [int(i), true[i], predicted[i], np.round(v, 5).tolist()]
            for i, v in zip(rows, vectors, strict=True)
        ]
        return wandb.Table(columns=["index", "true", "predicted", "embedding"], data=data)
