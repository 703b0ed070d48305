"""The training set's class distribution before and after balancing (S003's Figs. 1 and 2).

One bar pair per class: the training images before balancing and what training sees after
``data.balance`` (the exact counts, the added copies hatched on top of the originals) or, with
``data.sampler=balanced``, what the sampler draws per epoch on average.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from emotion_lab.data.balance import ClassBalance
from emotion_lab.viz.captions import with_detail
from emotion_lab.viz.plots import _check_classes, _new_figure

_AFTER_LABEL = {
    "copies": "after balancing (originals + augmented copies)",
    "sampler": "per epoch with the balanced sampler (expected)",
}


def plot_class_balance(balance: ClassBalance, title: str = "Training class distribution") -> Figure:
    """Grouped bars of ``balance.before`` and ``balance.after`` per class, counts written on top."""
    before = np.asarray(balance.before, dtype=np.float64)
    after = np.asarray(balance.after, dtype=np.float64)
    if before.shape != after.shape:
        raise ValueError(f"before has {before.size} classes, after {after.size}")
    if balance.how not in _AFTER_LABEL:
        raise ValueError(f"how must be one of {', '.join(_AFTER_LABEL)}, got {balance.how!r}")
    names = _check_classes(balance.classes, before.size, "class distribution")
    x = np.arange(len(names))
    width = 0.4
    fig = _new_figure(max(6.0, 0.9 * len(names) + 2.5), 4.5)
    ax = fig.add_subplot()
    bars = ax.bar(x - width / 2, before, width, label="before balancing", color="#9ecae1")
    ax.bar_label(bars, labels=[f"{v:.0f}" for v in before], fontsize=7)
    if balance.how == "copies":
        ax.bar(x + width / 2, before, width, color="#3182bd", label="originals")
        added = ax.bar(
            x + width / 2,
            after - before,
            width,
            bottom=before,
            color="#fd8d3c",
            hatch="//",
            label="augmented copies",
        )
        ax.bar_label(added, labels=[f"{v:.0f}" for v in after], fontsize=7)
    else:
        drawn = ax.bar(x + width / 2, after, width, color="#fd8d3c", label=_AFTER_LABEL["sampler"])
        ax.bar_label(drawn, labels=[f"{v:.0f}" for v in after], fontsize=7)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("training images")
    totals = f"{before.sum():.0f} → {after.sum():.0f} ({_AFTER_LABEL[balance.how]})"
    ax.set_title(with_detail(title, totals), fontsize=9)
    ax.set_ylim(0, 1.18 * max(float(before.max()), float(after.max()), 1.0))  # room for labels
    ax.legend(fontsize=8, loc="upper left", ncols=3)
    return fig
