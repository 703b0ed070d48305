"""The terminal: log records through Hydra's job logging, the --help listing, the model line."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf
from torch import nn

from emotion_lab.app.config import CONFIG_DIR, config_groups
from emotion_lab.app.console import ConsoleFormatter, DropMessages
from emotion_lab.callbacks.model_summary import summary_line


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("lightning.pytorch.x", level, __file__, 1, message, None, None)


def test_console_format_is_plain_for_info_and_names_warnings() -> None:
    formatter = ConsoleFormatter()
    assert formatter.format(record(logging.INFO, "GPU available: False")) == "GPU available: False"
    assert (
        formatter.format(record(logging.WARNING, "disk full"))
        == "WARNING lightning.pytorch.x: disk full"
    )


def test_drop_messages_never_drops_warnings() -> None:
    drop = DropMessages(["^💡 Tip:", "TPU available: False"])
    assert not drop.filter(record(logging.INFO, "💡 Tip: install litlogger"))
    assert not drop.filter(record(logging.INFO, "TPU available: False, using: 0 TPU cores"))
    assert drop.filter(record(logging.INFO, "GPU available: True (cuda), used: True"))
    assert drop.filter(record(logging.WARNING, "💡 Tip: but it is a warning"))


def test_config_groups_hide_partials_and_other_commands_options(tmp_path: Path) -> None:
    for name in (
        "experiment/a.yaml",
        "experiment/a_common.yaml",
        "callbacks/default.yaml",
        "callbacks/evaluate.yaml",
        "hydra/help/train.yaml",
        "model/sub/x.yaml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    listing = config_groups(["experiment/*_common", "callbacks/evaluate"], root=tmp_path)
    assert listing.splitlines() == ["callbacks: default", "experiment: a", "model/sub: x"]
    only = config_groups(["callbacks/default"], groups=["callbacks"], root=tmp_path)
    assert only == "callbacks: evaluate"


def test_train_help_has_examples_and_no_partial_configs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emotion_lab.train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    groups = {
        line.split(":")[0]: line.split(": ")[1].split(", ")
        for line in result.stdout.splitlines()
        if ": " in line and line.split(":")[0] in ("experiment", "callbacks", "debug", "model")
    }
    assert "python -m emotion_lab.train experiment=smoke" in result.stdout  # the examples
    assert "smoke" in groups["experiment"] and "s000_synthetic" in groups["experiment"]
    assert not [o for o in groups["experiment"] if o.endswith("_common")]
    assert groups["callbacks"] == ["default"]  # callbacks=evaluate is emotion_lab.evaluate's
    assert groups["debug"] == ["fdr", "overfit", "profiler"]
    hidden = OmegaConf.load(CONFIG_DIR / "hydra" / "help" / "train.yaml").hidden
    assert list(hidden) == ["experiment/*_common", "callbacks/evaluate", "claims/*/*"]
    assert not [line for line in result.stdout.splitlines() if line.startswith("claims")]


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Linear(10, 3)  # 33 parameters
        self.loss = nn.Linear(2, 2)  # 6, frozen below
        self.metrics = nn.Identity()  # none: left out of the line
        self.loss.requires_grad_(False)


def test_summary_line_names_parts_with_parameters_and_totals() -> None:
    line = summary_line(_Tiny())  # type: ignore[arg-type]
    assert line == "model Linear 33, loss Linear 6 | 39 params (33 trainable), 0.0 MB"


def test_evaluate_help_lists_only_what_evaluate_composes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emotion_lab.evaluate", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    groups = [line.split(":")[0] for line in result.stdout.splitlines() if ": " in line]
    listed = groups[groups.index("callbacks") : groups.index("trainer") + 1]
    assert listed == ["callbacks", "data", "logger", "paths", "trainer"]
    assert "callbacks: evaluate" in result.stdout.splitlines()
    assert "python -m emotion_lab.evaluate ckpt_path=" in result.stdout
