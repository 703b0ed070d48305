"""Figure titles that say which run a picture belongs to and what was trained.

A PNG travels alone (W&B panels, a slide, a chat message), so its title carries the run, the
model and the settings that tell runs apart, read from the run's resolved config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emotion_lab.dotted import lookup

__all__ = ["figure_title", "run_settings", "with_detail"]


def _number(value: Any) -> str:
    return (
        f"{value:g}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


def run_settings(config: Mapping[str, Any] | None) -> str:
    """``vire_cnn on synthetic · CE + 0.1·center (margin 5, λ 1) · Adam lr 0.002 · seed 42``;
    parts the config lacks are left out (an empty string for no config)."""
    if not config:
        return ""
    parts = []
    model, data = lookup(config, "model.name"), lookup(config, "data.name")
    if model or data:
        parts.append(" on ".join(str(p) for p in (model, data) if p))
    beta = lookup(config, "loss.beta")
    if lookup(config, "loss.use_centers") and isinstance(beta, int | float) and beta > 0:
        loss = f"CE + {_number(beta)}·center"
        if lookup(config, "loss.center_form") == "margin":
            loss += f" (margin {_number(lookup(config, 'loss.margin'))}"
            loss += f", λ {_number(lookup(config, 'loss.lambda_'))})"
        parts.append(loss)
    elif lookup(config, "loss") is not None:
        parts.append("CE")
    target, lr = lookup(config, "optimizer._target_"), lookup(config, "optimizer.lr")
    if target:
        parts.append(str(target).rsplit(".", 1)[-1] + (f" lr {_number(lr)}" if lr else ""))
    if lookup(config, "seed") is not None:
        parts.append(f"seed {config['seed']}")
    return " · ".join(parts)


def figure_title(what: str, run: str, config: Mapping[str, Any] | None) -> str:
    """``what — run <run>`` over the settings line (two lines, the second omitted if empty)."""
    settings = run_settings(config)
    head = f"{what} — run {run}" if run else what
    return f"{head}\n{settings}" if settings else head


def with_detail(title: str, detail: str, sep: str = ": ") -> str:
    """``title`` with ``detail`` (a figure's own summary, e.g. its macro AUC) at the end of its
    first line, so the settings line of :func:`figure_title` stays last."""
    head, newline, rest = title.partition("\n")
    return f"{head}{sep}{detail}{newline}{rest}"
