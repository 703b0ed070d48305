"""Shared test set-up: quiet, offline W&B and a fixed thread count so runs stay reproducible."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_DISABLE_GIT", "true")


@pytest.fixture(autouse=True)
def _single_thread() -> None:
    torch.set_num_threads(1)
