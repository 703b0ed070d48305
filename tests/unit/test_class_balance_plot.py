"""The class distribution before and after balancing: the figure and the callback that writes it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from emotion_lab.callbacks.class_balance import ClassBalancePlot
from emotion_lab.data.balance import ClassBalance
from emotion_lab.viz.class_balance import plot_class_balance
from tests.unit.test_balance import GOAL, _balanced_dm

CLASSES = ("a", "b", "c")


def _heights(fig) -> list[float]:
    return [round(p.get_height(), 3) for p in fig.axes[0].patches]


def test_copies_are_stacked_on_the_originals() -> None:
    fig = plot_class_balance(ClassBalance(CLASSES, (30, 10, 4), (30, 25, 12), "copies"))
    # on disk, originals, copies on top of them
    assert _heights(fig) == [30, 10, 4, 30, 10, 4, 0, 15, 8]
    assert "44 → 67" in fig.axes[0].get_title()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(CLASSES)


def test_the_balanced_sampler_shows_its_expected_draws() -> None:
    fig = plot_class_balance(ClassBalance(CLASSES, (30, 10, 5), (15.0, 15.0, 15.0), "sampler"))
    assert _heights(fig) == [30, 10, 5, 15, 15, 15]
    assert "expected" in fig.axes[0].get_title()


def test_mismatched_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="before has 3 classes, after 2"):
        plot_class_balance(ClassBalance(CLASSES, (1, 2, 3), (1, 2), "copies"))


def _trainer(datamodule, rank: int) -> SimpleNamespace:
    return SimpleNamespace(datamodule=datamodule, is_global_zero=rank == 0, loggers=[])


def test_the_callback_writes_the_png_on_rank_zero_only(tmp_path: Path) -> None:
    dm = _balanced_dm()
    assert dm.class_balance is not None and list(dm.class_balance.after) == GOAL
    other = ClassBalancePlot(str(tmp_path / "rank1"))
    other.on_fit_start(_trainer(dm, rank=1), torch.nn.Identity())  # type: ignore[arg-type]
    assert other.path is None and not (tmp_path / "rank1").exists()
    plot = ClassBalancePlot(str(tmp_path))
    plot.on_fit_start(_trainer(dm, rank=0), torch.nn.Identity())  # type: ignore[arg-type]
    assert plot.path == tmp_path / "figures" / "class_balance.png"
    image = imread(plot.path)
    assert image.ndim == 3 and image.shape[0] > 100 and np.ptp(image) > 0


def test_nothing_is_written_when_nothing_rebalances(tmp_path: Path) -> None:
    plot = ClassBalancePlot(str(tmp_path))
    plain = SimpleNamespace(class_balance=None)
    plot.on_fit_start(_trainer(plain, rank=0), torch.nn.Identity())  # type: ignore[arg-type]
    assert plot.path is None and not (tmp_path / "figures").exists()
