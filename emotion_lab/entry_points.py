"""Installed commands (``emotion-lab-train`` …): each runs its module exactly as
``python -m emotion_lab.<name>`` does (its ``run_app(main, name)``), so overrides, one-line
errors and exit codes are the same.

The module runs as ``__main__`` because Hydra finds ``conf/`` from the file of the app's
``main``; imported under its package name, Hydra would look for a ``conf`` package instead.
"""

from __future__ import annotations

import runpy


def _run(name: str) -> None:
    runpy.run_module(f"emotion_lab.{name}", run_name="__main__", alter_sys=True)


def train() -> None:
    _run("train")


def evaluate() -> None:
    _run("evaluate")


def predict() -> None:
    _run("predict")


def export() -> None:
    _run("export")


def data() -> None:
    _run("data")


def reproduce() -> None:
    _run("reproduce")
