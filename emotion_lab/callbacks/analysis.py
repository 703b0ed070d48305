"""After the test pass: embedding analysis, pictures, a report, and the same in W&B.

Runs once per test, on the embeddings the module kept, so the clustering and UMAP are computed
once per evaluation and shared by the logs, the PNGs and report.md.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from emotion_lab.metrics.embedding import embedding_report
from emotion_lab.viz import plots
from emotion_lab.viz.report import markdown_table, write_report

log = logging.getLogger(__name__)


def per_class_report(confusion: np.ndarray, classes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class from a confusion matrix (rows = truth)."""
    rows = []
    for i, name in enumerate(classes):
        tp = float(confusion[i, i])
        predicted = float(confusion[:, i].sum())
        support = int(confusion[i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {"class": name, "precision": precision, "recall": recall, "f1": f1, "support": support}
        )
    return rows


class TestAnalysis(pl.Callback):
    """Writes confusion matrix, UMAP, center distances, curves and report.md into the run folder."""

    def __init__(
        self, output_dir: str, umap: bool = True, seed: int = 0, max_umap_points: int = 20000
    ) -> None:
        self.output_dir = Path(output_dir)
        self.umap = umap
        self.seed = seed
        self.max_umap_points = max_umap_points
        self.metrics: dict[str, float] = {}
        self.results: dict[str, Any] = {}  # the gathered test outputs, for other callbacks
        self.images: dict[str, Path] = {}

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        results = pl_module.test_results()  # type: ignore[operator]  # a collective: all ranks
        self.results = results
        if not trainer.is_global_zero:
            return  # files, pictures and W&B are rank 0's
        classes: tuple[str, ...] = pl_module.classes  # type: ignore[assignment]
        metrics = {
            k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")
        }
        embeddings = results["embeddings"].numpy()
        labels = results["labels"].numpy()
        centers = results.get("centers")
        report = embedding_report(
            embeddings,
            labels,
            len(classes),
            learned_centers=None if centers is None else centers.numpy(),
            seed=self.seed,
        )
        for key, value in report.items():
            if np.ndim(value) == 0:
                metrics[f"test/{key}"] = float(value)
        self.metrics = metrics
        figures_dir = self.output_dir / "figures"
        figures_dir.mkdir(parents=True, exist_ok=True)
        confusion = results["confusion"].numpy()
        images: dict[str, Path] = {}
        images["confusion_matrix"] = plots.save_figure(
            plots.plot_confusion_matrix(confusion, classes), figures_dir / "confusion_matrix.png"
        )
        from emotion_lab.viz.roc import plot_roc_curves  # one-vs-rest per class (S002)

        images["roc_curves"] = plots.save_figure(
            plot_roc_curves(results["probs"].numpy(), labels, classes),
            figures_dir / "roc_curves.png",
        )
        if "center_distances" in report:
            images["center_distances"] = plots.save_figure(
                plots.plot_center_distances(report["center_distances"], classes),
                figures_dir / "center_distances.png",
            )
        if self.umap:
            images["umap"] = plots.save_figure(
                plots.plot_embedding_umap(
                    embeddings, labels, classes, seed=self.seed, max_points=self.max_umap_points
                ),
                figures_dir / "umap.png",
            )
        curves = self._metrics_csv(trainer)
        if curves is not None and trainer.current_epoch > 0:  # evaluate-only runs have no curves
            images["training_curves"] = plots.save_figure(
                plots.plot_training_curves(curves), figures_dir / "training_curves.png"
            )
        self.images = images
        np.savez_compressed(
            self.output_dir / "test_embeddings.npz",
            embeddings=embeddings,
            labels=labels,
            probs=results["probs"].numpy(),
            centers=np.empty(0) if centers is None else centers.numpy(),
        )
        rows = per_class_report(confusion, classes)
        table = markdown_table(rows, ["class", "precision", "recall", "f1", "support"])
        write_report(
            self.output_dir,
            {k: v for k, v in metrics.items() if math.isfinite(v)},
            images,
            title=f"{type(pl_module.model).__name__} on {trainer.datamodule.name}"  # type: ignore[union-attr]
            if trainer.datamodule is not None
            else "test report",
            extra_sections={"Per-class report (test)": table},
        )
        self._log(trainer, metrics, images, rows)

    @staticmethod
    def _metrics_csv(trainer: pl.Trainer) -> Path | None:
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger):
                logger.save()
                path = Path(logger.log_dir) / "metrics.csv"
                return path if path.exists() else None
        return None

    @staticmethod
    def _log(
        trainer: pl.Trainer,
        metrics: dict[str, float],
        images: dict[str, Path],
        rows: list[dict[str, Any]],
    ) -> None:
        analysis = {
            k: v
            for k, v in metrics.items()
            if k.split("/")[-1] in ("ari", "nmi", "asr_kmeans", "asr_class_centers", "delta")
        }
        for logger in trainer.loggers:
            logger.log_metrics(analysis, step=trainer.global_step)
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log(
                    {f"figures/{name}": wandb.Image(str(path)) for name, path in images.items()}
                )
                columns = list(rows[0])
                logger.log_table(
                    "test/per_class", columns=columns, data=[[r[c] for c in columns] for r in rows]
                )
