"""``train --help`` answers in the time Hydra needs: it imports no torch, Lightning or W&B."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "lightning", "timm", "wandb", "sklearn", "matplotlib")


def test_train_help_imports_no_training_stack() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "emotion_lab.train", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "override" in proc.stdout.lower() or "emotion" in proc.stdout.lower()
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
