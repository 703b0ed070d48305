"""A run's ``report.md``: metrics table, pictures and free sections, readable on GitHub or locally."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emotion_lab import files

__all__ = ["format_value", "markdown_table", "write_report"]

REPORT_NAME = "report.md"
AVERAGE_ROWS = ("macro avg", "weighted avg")
"""The summary rows under report.md's per-class table: not classes, for whoever reads it back."""


def format_value(value: Any) -> str:
    """Compact cell text: 4 decimals for ordinary floats, scientific for tiny/huge ones."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()  # numpy or torch scalar
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def _cell(value: Any) -> str:
    # A pipe would end the cell and a newline the row.
    return format_value(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """GitHub-flavoured markdown table of ``rows`` restricted to ``columns``, in that order."""
    if not columns:
        raise ValueError("columns: at least one column is needed")
    lines = [
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for index, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"rows[{index}]: missing column {missing[0]!r}")
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def _scalar(key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"metrics[{key!r}]: expected a scalar number, got {type(value).__name__}"
        ) from None


def write_report(
    run_dir: str | os.PathLike[str],
    metrics: Mapping[str, Any],
    images: Mapping[str, str | os.PathLike[str]],
    title: str,
    extra_sections: Mapping[str, str] | None = None,
    run_info: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/report.md`` (0644, atomically) and return its path.

    Order: ``run_info`` (how the run was made: command, date, checkpoint ...) as a two-column
    table, the metrics, the ``extra_sections``, then the figures. ``images`` maps a caption to a
    PNG path (relative paths mean the working directory, as everywhere in Python). Links are
    written relative to ``run_dir`` so the folder can be moved or uploaded whole; a missing image
    is an error rather than a broken link.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory not found: {root}")
    parts = [f"# {title}", ""]
    if run_info:
        rows = [{"": key, "value": value} for key, value in run_info.items()]
        parts += ["## Run", "", markdown_table(rows, ["", "value"]), ""]
    if metrics:
        rows = [{"metric": key, "value": _scalar(key, value)} for key, value in metrics.items()]
        parts += ["## Metrics", "", markdown_table(rows, ["metric", "value"]), ""]
    for heading, body in (extra_sections or {}).items():
        parts += [f"## {heading}", "", body.rstrip(), ""]
    if images:
        parts += ["## Figures", ""]
        for name, image in images.items():
            located = Path(image)
            if not located.is_file():
                raise FileNotFoundError(f"report image {name!r} not found: {located}")
            link = Path(os.path.relpath(located.resolve(), root.resolve())).as_posix()
            parts += [f"### {name}", "", f"![{name}]({link.replace(' ', '%20')})", ""]
    text = "\n".join(parts).rstrip() + "\n"
    return files.write_text(root / REPORT_NAME, text)
