"""The plugin's own atomic writer: whole files or none, readable by others, no temp left."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pytest

from hydra_plugins.emotion_lab_sweeper import _files
from hydra_plugins.emotion_lab_sweeper._naming import _digest


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_text_replaces_the_whole_file_and_others_can_read_it(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "leaderboard.csv"
    _files.write_text(target, "old")
    _files.write_text(target, "new", durable=True)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~_umask()
    assert [p.name for p in target.parent.iterdir()] == ["leaderboard.csv"]


def test_a_failed_block_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "best.yaml"
    _files.write_bytes(target, b"kept")
    with pytest.raises(RuntimeError), _files.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".best.yaml.")
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.yaml"]


def test_write_json_keeps_nan_and_writes_the_rest_as_text(tmp_path: Path) -> None:
    path = _files.write_json(tmp_path / "1.json", {"v": float("nan"), "at": tmp_path}, indent=1)
    doc = json.loads(path.read_text())
    assert math.isnan(doc["v"]) and doc["at"] == str(tmp_path)


def test_the_study_name_digest_is_stable() -> None:
    """A resumed sweep finds its study by this hash: it must not change between versions."""
    assert (
        _digest({"task": ["x=1"], "params": {}}) == "68330989"
    )  # as emotion_lab.files.json_digest gave it
    assert _digest({"a": 1, "b": [2]}) == _digest({"b": [2], "a": 1})
    assert len(_digest({"a": 1}, length=16)) == 16
