"""emotion-lab: emotion recognition experiments with Hydra and Lightning.

``emotion_lab.load_checkpoint(path)`` rebuilds a trained model for notebooks; it is imported on
first use, so ``import emotion_lab`` stays cheap (no torch, no Lightning).
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_checkpoint"]


def __getattr__(name: str) -> Any:
    if name == "load_checkpoint":
        from emotion_lab.classifier.inference import load_checkpoint

        return load_checkpoint
    raise AttributeError(f"module 'emotion_lab' has no attribute {name!r}")
