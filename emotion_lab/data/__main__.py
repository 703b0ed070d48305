"""``python -m emotion_lab.data data=<set>`` (or ``emotion-lab-data``): look before training.

Takes the same overrides as ``train`` (``data=``, ``experiment=``, ``paths.data_dir=`` …), so the
images it shows are decoded, cropped and resized exactly as that run would see them.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from emotion_lab.builders import build_datamodule
from emotion_lab.cli import one_line_errors, run_app
from emotion_lab.config import register_resolvers
from emotion_lab.data.look import data_report, print_report, write_contact_sheet
from emotion_lab.files import write_text

register_resolvers()


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
