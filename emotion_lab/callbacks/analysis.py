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

from emotion_lab import files
from emotion_lab.metrics.embedding import embedding_report
from emotion_lab.models.checkpoint import read_checkpoint
from emotion_lab.viz import plots, provenance
from emotion_lab.viz.captions import figure_title, run_settings
from emotion_lab.viz.report import AVERAGE_ROWS, markdown_table, write_report

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


def class_averages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``macro avg`` (classes in the test set count equally) and ``weighted avg`` (by support)
    rows for :func:`per_class_report`'s table."""
    present = [r for r in rows if r["support"] > 0]
    total = sum(r["support"] for r in present)
    out = []
    macro, weighted = AVERAGE_ROWS
    for name, weights in (
        (macro, [1.0] * len(present)),
        (weighted, [float(r["support"]) for r in present]),
    ):
        norm = sum(weights) or 1.0
        row: dict[str, Any] = {"class": name, "support": total}
        for key in ("precision", "recall", "f1"):
            row[key] = sum(w * r[key] for w, r in zip(weights, present, strict=True)) / norm
        out.append(row)
    return out


def per_class_section(rows: list[dict[str, Any]]) -> str:
    """The report's per-class table with the averages; classes with F1 = 0 are flagged in the
    table and named below it (the model never gets them right: the usual sign of a collapsed
    or too-short run, or of a class too rare to learn)."""
    dead = [r["class"] for r in rows if r["support"] > 0 and r["f1"] == 0]
    table_rows = [{**r, "flag": "F1 = 0" if r["class"] in dead else ""} for r in rows]
    table_rows += [{**r, "flag": ""} for r in class_averages(rows)]
    table = markdown_table(table_rows, ["class", "precision", "recall", "f1", "support", "flag"])
    if dead:
        table += f"\n\n**F1 = 0 for {len(dead)} of {len(rows)} classes:** {', '.join(dead)}."
    return table


def checkpoint_epoch(path: Path) -> tuple[int, str]:
    """The epoch a Lightning checkpoint was saved in and, when its ModelCheckpoint state says,
    the monitored value that made it the best (``"val/acc = 0.8125"``, else ``""``)."""
    stored = read_checkpoint(path, "ckpt_path")
    for state in (stored.get("callbacks") or {}).values():
        if (
            isinstance(state, dict)
            and state.get("monitor")
            and state.get("best_model_score") is not None
        ):
            score = f"{state['monitor']} = {float(state['best_model_score']):.4f}"
            return int(stored.get("epoch", 0)), score
    return int(stored.get("epoch", 0)), ""


def run_label(trainer: pl.Trainer, output_dir: Path) -> str:
    """The W&B run's name when there is one, else the run folder's name."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero:
            name = getattr(logger.experiment, "name", None)
            if name:
                return str(name)
    return output_dir.name


class TestAnalysis(pl.Callback):
    """Writes confusion matrix, UMAP, center distances, curves and report.md into the run folder."""

    def __init__(
        self,
        output_dir: str,
        umap: bool = True,
        seed: int = 0,
        max_umap_points: int = 20000,
        checkpoint: str | None = None,
    ) -> None:
        """``checkpoint``: the file whose weights are tested when the Trainer was not given it
        (``evaluate`` loads the module itself); a fit's test names its own."""
        self.output_dir = Path(output_dir)
        self.checkpoint = checkpoint
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
        config: dict[str, Any] = getattr(pl_module, "run_config", None) or {}
        run = run_label(trainer, self.output_dir)
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
        confusion = results["confusion"].numpy()
        loss_cfg = config.get("loss") or {}
        trained_centers = centers is not None and float(loss_cfg.get("beta") or 0) > 0
        margin = loss_cfg.get("margin") if loss_cfg.get("center_form") == "margin" else None
        images: dict[str, Path] = {}
        images["confusion_matrix"] = plots.save_figure(
            plots.plot_confusion_matrix(
                confusion, classes, title=figure_title("Confusion matrix (test)", run, config)
            ),
            figures_dir / "confusion_matrix.png",
        )
        from emotion_lab.viz.roc import plot_roc_curves  # one-vs-rest per class (S002)

        images["roc_curves"] = plots.save_figure(
            plot_roc_curves(
                results["probs"].numpy(),
                labels,
                classes,
                title=figure_title("ROC, one vs rest (test)", run, config),
            ),
            figures_dir / "roc_curves.png",
        )
        if "center_distances" in report:
            what = "Distances between learned class centers"
            images["center_distances"] = plots.save_figure(
                plots.plot_center_distances(
                    report["center_distances"],
                    classes,
                    title=figure_title(what, run, config),
                    margin=None if margin is None else float(margin),
                ),
                figures_dir / "center_distances.png",
            )
        if self.umap:
            images["umap"] = plots.save_figure(
                plots.plot_embedding_umap(
                    embeddings,
                    labels,
                    classes,
                    seed=self.seed,
                    max_points=self.max_umap_points,
                    title=figure_title("UMAP of test embeddings", run, config),
                    centers=centers.numpy() if trained_centers else None,
                ),
                figures_dir / "umap.png",
            )
        best = self._best_epoch(trainer)
        curves = self._metrics_csv(trainer)
        if curves is not None and trainer.current_epoch > 0:  # evaluate-only runs have no curves
            marker = None if best is None else (best[0], f"best epoch {best[0]}")
            images["training_curves"] = plots.save_figure(
                plots.plot_training_curves(
                    curves, title=figure_title("Training curves", run, config), best=marker
                ),
                figures_dir / "training_curves.png",
            )
        self.images = images
        with (
            files.atomic_path(self.output_dir / "test_embeddings.npz") as tmp,
            tmp.open("wb") as fh,
        ):
            np.savez_compressed(
                fh,
                embeddings=embeddings,
                labels=labels,
                probs=results["probs"].numpy(),
                centers=np.empty(0) if centers is None else centers.numpy(),
            )
        rows = per_class_report(confusion, classes)
        write_report(
            self.output_dir,
            {k: v for k, v in metrics.items() if math.isfinite(v)},
            images,
            title=f"{run_settings(config) or type(pl_module.model).__name__} — run {run}",
            extra_sections={"Per-class report (test)": per_class_section(rows)},
            run_info=self._run_info(trainer, best),
        )
        self._log(trainer, metrics, images, rows)

    def _tested_checkpoint(self, trainer: pl.Trainer) -> Path | None:
        path = trainer.ckpt_path or self.checkpoint
        return Path(path) if path else None

    def _best_epoch(self, trainer: pl.Trainer) -> tuple[int, str] | None:
        """``(epoch, "val/acc = 0.8125")`` of the checkpoint the test used, read from the file
        itself; None when the test ran on weights in memory (no checkpoint to name)."""
        path = self._tested_checkpoint(trainer)
        return None if path is None else checkpoint_epoch(path)

    def _run_info(self, trainer: pl.Trainer, best: tuple[int, str] | None) -> dict[str, str]:
        info = {"command": f"`{provenance.command_line()}`"}
        overrides = provenance.job_overrides()
        info["overrides"] = " ".join(f"`{o}`" for o in overrides) if overrides else "none"
        info["date"] = provenance.now_text()
        info["run folder"] = str(self.output_dir)
        checkpoint = self._tested_checkpoint(trainer)
        info["checkpoint"] = (
            "none (weights in memory)" if checkpoint is None else self._relative(checkpoint)
        )
        if best is not None:
            trained = f", of {trainer.current_epoch} trained" if trainer.current_epoch else ""
            info["best epoch"] = f"{best[0]} (from 0{trained})" + (
                f": {best[1]}" if best[1] else ""
            )
        return info

    def _relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.output_dir.resolve()).as_posix()
        except ValueError:
            return str(path)

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
