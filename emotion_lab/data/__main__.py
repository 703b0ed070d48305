"""``python -m emotion_lab.data data=<set>`` (or ``emotion-lab-data``): look before training.

Loading a release by hand and training on it are separated by hours; a swapped id table or a
face box read in the wrong order shows up only as a bad accuracy at the end. This report shows
it before training: counts per split and class, the id table the labels went through, the split
protocol (with the fixed split's digest), what was skipped and why, and a contact sheet. It
takes the same overrides as ``train`` (``data=``, ``experiment=``, ``paths.data_dir=`` …), so
the images it shows are decoded, cropped and resized exactly as that run would see them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from emotion_lab.app.config import register_resolvers
from emotion_lab.app.entry import one_line_errors, run_app
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.errors import ConfigError
from emotion_lab.files import write_text
from emotion_lab.run.builders import build_datamodule
from emotion_lab.viz.contact_sheet import pick_per_class, plot_contact_sheet

register_resolvers()

SPLITS = ("train", "val", "test")


@dataclass
class DataReport:
    """Counts per split and class, the source's own description, and skipped samples."""

    name: str
    classes: tuple[str, ...]
    counts: dict[str, list[int]]
    info: dict[str, Any]
    skipped: dict[str, int] = field(default_factory=dict)
    skip_reasons: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "counts": self.counts,
            "info": self.info,
            "skipped": self.skipped,
            "skip_reasons": self.skip_reasons,
        }


def data_report(datamodule: EmotionDataModule) -> DataReport:
    """The report of a set up data module (the splits training will see, val cut included)."""
    datamodule.setup()
    counts = {
        split: np.bincount(
            datamodule.splits[split].labels.numpy(), minlength=datamodule.num_classes
        ).tolist()
        for split in SPLITS
    }
    return DataReport(
        name=datamodule.name,
        classes=datamodule.classes,
        counts=counts,
        info=datamodule.describe(),
        skipped=dict(datamodule.skipped),
        skip_reasons={k: list(v) for k, v in datamodule.skip_reasons.items()},
    )


def print_report(report: DataReport, console: Console | None = None) -> None:
    console = console or Console(width=120)
    table = Table(title=f"{report.name}: images per split and class", title_justify="left")
    table.add_column("label")
    table.add_column("class")
    for split in SPLITS:
        table.add_column(split, justify="right")
    for i, name in enumerate(report.classes):
        table.add_row(str(i), name, *(f"{report.counts[s][i]:,}" for s in SPLITS))
    table.add_row("", "all", *(f"{sum(report.counts[s]):,}" for s in SPLITS), style="bold")
    console.print(table)
    about = Table(show_header=False, title="as read", title_justify="left")
    about.add_column(style="bold")
    about.add_column()
    for key, value in report.info.items():
        if key == "classes":
            continue
        about.add_row(key, _text(value))
    if report.skipped:
        about.add_row("skipped", ", ".join(f"{n} {s}" for s, n in report.skipped.items()))
        for split, reasons in report.skip_reasons.items():
            for reason in reasons[:5]:
                about.add_row(f"  {split}", reason)
    else:
        about.add_row("skipped", "none")
    console.print(about)


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} → {v}" for k, v in value.items())
    return str(value)


def write_contact_sheet(
    datamodule: EmotionDataModule,
    path: Path,
    split: str = "train",
    per_class: int = 8,
    seed: int = 0,
) -> Path:
    """Sample images of ``split`` per class as stored for training (cropped and resized, not
    augmented) in one PNG."""
    if split not in SPLITS:
        raise ConfigError(f"look.split must be one of {', '.join(SPLITS)}; got {split!r}")
    if not isinstance(per_class, int) or isinstance(per_class, bool) or not 1 <= per_class <= 64:
        raise ConfigError(f"look.per_class must be an integer in 1..64; got {per_class!r}")
    data = datamodule.splits[split]
    labels = data.labels.numpy()
    rows = []
    for picked in pick_per_class(labels, datamodule.num_classes, per_class, seed):
        if len(picked):
            images, _ = data.__getitems__(picked.tolist())
            rows.append(images.permute(0, 2, 3, 1).numpy())
        else:
            rows.append(np.zeros((0, 1, 1, 1), dtype=np.uint8))
    counts = np.bincount(labels, minlength=datamodule.num_classes).tolist()
    title = f"{datamodule.name}: {split} ({len(labels):,} images), as training sees them"
    return plot_contact_sheet(rows, datamodule.classes, counts, path, title=title)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="data_look")
@one_line_errors
def main(cfg: DictConfig) -> None:
    datamodule = build_datamodule(cfg)
    report = data_report(datamodule)
    print_report(report)
    out = Path(cfg.paths.output_dir)
    sheet = Path(cfg.look.sheet) if cfg.look.sheet else out / "contact_sheet.png"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    write_contact_sheet(
        datamodule, sheet, str(cfg.look.split), cfg.look.per_class, int(cfg.look.seed)
    )
    write_text(out / "data_report.json", json.dumps(report.as_dict(), indent=2) + "\n")
    print(f"contact sheet: {sheet}")
    print(f"report: {out / 'data_report.json'}")


if __name__ == "__main__":
    run_app(main, "data_look")
