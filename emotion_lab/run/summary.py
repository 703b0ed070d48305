"""The table every command ends with (run, repeats, evaluation, export): key and value rows."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_summary(rows: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(key, text)
    Console(width=120).print(table)
