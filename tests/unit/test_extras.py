"""The extras block: the config tree printed and saved at start, warnings silenced on request."""

from __future__ import annotations

import stat
import warnings
from pathlib import Path

import pytest

from emotion_lab.app.config import compose_config
from emotion_lab.app.extras import TREE_FILE, apply_extras


def test_print_config_prints_and_saves_the_resolved_tree(tmp_path: Path, capsys) -> None:
    cfg = compose_config(
        "train", ["extras.print_config=true", "optimizer.lr=0.0123"], output_dir=str(tmp_path)
    )
    apply_extras(cfg)
    saved = (tmp_path / TREE_FILE).read_text()
    for text in (saved, capsys.readouterr().out):
        assert "model" in text and "vire_cnn" in text
        assert "lr: 0.0123" in text
        assert "${" not in text  # resolved, as the run sees it
    assert saved.index("data") < saved.index("model") < saved.index("objective")
    assert stat.S_IMODE((tmp_path / TREE_FILE).stat().st_mode) & 0o044 == 0o044


def test_default_extras_write_nothing(tmp_path: Path, capsys) -> None:
    apply_extras(compose_config("train", [], output_dir=str(tmp_path)))
    assert not (tmp_path / TREE_FILE).exists()
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("ignore", [True, False])
def test_ignore_warnings(tmp_path: Path, ignore: bool) -> None:
    cfg = compose_config(
        "train", [f"extras.ignore_warnings={str(ignore).lower()}"], output_dir=str(tmp_path)
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        apply_extras(cfg)
        warnings.warn("a warning the user chose not to see", UserWarning, stacklevel=1)
    assert len(seen) == (0 if ignore else 1)
