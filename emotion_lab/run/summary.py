"""The table a command ends with: what ran, on what data, and the numbers that matter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from emotion_lab.run.records import headline_metrics

if TYPE_CHECKING:
    from emotion_lab.classifier.module import EmotionClassifier
    from emotion_lab.data.datamodule import EmotionDataModule
    from emotion_lab.run.fit import RunResult


def print_summary(rows: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    Console(width=120).print(table)


def summary_rows(
    cfg: DictConfig, datamodule: EmotionDataModule, module: EmotionClassifier, result: RunResult
) -> dict[str, object]:
    sizes = " / ".join(f"{len(datamodule.splits[s])} {s}" for s in ("train", "val", "test"))
    loss = f"beta={cfg.loss.beta}"
    if cfg.loss.get("use_centers"):
        loss += f", margin={cfg.loss.margin}, lambda={cfg.loss.lambda_}"
    rows: dict[str, object] = {
        "data set": f"{datamodule.name} ({sizes})",
        "model": f"{cfg.model.name} ({sum(p.numel() for p in module.model.parameters()):,} params)",
        "loss": loss,
    }
    info = datamodule.describe()
    if "split" in info:
        digest = f" (digest {info['split_digest']})" if info.get("split_digest") else ""
        rows["splits"] = f"{info['split']}{digest}"
    if info.get("ids"):
        rows["label ids"] = ", ".join(f"{k} → {v}" for k, v in info["ids"].items())
    if info.get("left_out"):
        rows["left out"] = ", ".join(f"{n} {why}" for why, n in info["left_out"].items())
    if datamodule.skipped:
        rows["skipped samples"] = ", ".join(f"{n} {s}" for s, n in datamodule.skipped.items())
    rows |= {
        "epochs": result.epochs,
        f"best {cfg.objective.metric}": result.objective,
    }
    rows |= headline_metrics(result.test_metrics)
    rows["run folder"] = cfg.paths.output_dir
    rows["W&B run"] = result.wandb_dir or "off"
    return rows
