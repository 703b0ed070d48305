"""The one atomic writer: whole files or none, shared permissions, orphan clean-up."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from emotion_lab import files


def test_write_text_replaces_whole_file_and_is_shared_readable(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.md"
    files.write_text(target, "old")
    files.write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 & ~files._UMASK
    assert [p.name for p in target.parent.iterdir()] == ["report.md"]


def test_failed_block_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "board.csv"
    files.write_text(target, "kept")
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.csv"]


def test_write_json_round_trips_nan(tmp_path: Path) -> None:
    path = files.write_json(tmp_path / "m.json", {"ari": float("nan"), "acc": 0.5}, durable=True)
    doc = json.loads(path.read_text())
    assert math.isnan(doc["ari"]) and doc["acc"] == 0.5


def test_json_digest_ignores_key_order_and_sees_values() -> None:
    assert files.json_digest({"a": 1, "b": [2]}) == files.json_digest({"b": [2], "a": 1})
    assert files.json_digest({"a": 1}) != files.json_digest({"a": 2})
    assert len(files.json_digest({"a": 1}, length=8)) == 8


def test_remove_stale_temps_removes_dead_writers_only(tmp_path: Path) -> None:
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    orphan = tmp_path / f".cache.npy.{files.HOST}-{int(dead.stdout)}.abc.tmp"
    live = tmp_path / f".cache.npy.{files.HOST}-{os.getpid()}.def.tmp"
    other = tmp_path / ".cache.npy.otherhost-1.ghi.tmp"
    for p in (orphan, live, other):
        p.write_text("x")
    assert files.remove_stale_temps(tmp_path) == [orphan]
    assert live.exists() and other.exists()
    old = os.stat(other).st_mtime - files.STALE_TEMP_SECONDS - 5
    os.utime(other, (old, old))
    assert files.remove_stale_temps(tmp_path) == [other]


def test_atomic_dir_appears_whole_and_shared_readable(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    with files.atomic_dir(root) as tmp:
        (tmp / "a").mkdir()
        (tmp / "a" / "x.txt").write_text("x")
        assert not root.exists()  # nothing under the final name while it is filled
    assert (root / "a" / "x.txt").read_text() == "x"
    assert stat.S_IMODE(os.stat(root).st_mode) == files.SHARED_DIR_MODE & ~files._UMASK
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]


def test_atomic_dir_failure_leaves_nothing_and_never_merges(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    with pytest.raises(RuntimeError), files.atomic_dir(root) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("killed half way")
    assert list(tmp_path.iterdir()) == []
    root.mkdir()
    (root / "old.txt").write_text("old")
    with pytest.raises(OSError), files.atomic_dir(root) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in root.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]


def test_remove_stale_temps_removes_a_dead_writers_folder(tmp_path: Path) -> None:
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    orphan = tmp_path / f".tree.{files.HOST}-{int(dead.stdout)}.abc.tmp"
    (orphan / "train").mkdir(parents=True)
    (orphan / "train" / "0.png").write_bytes(b"x")
    assert files.remove_stale_temps(tmp_path) == [orphan]
    assert not orphan.exists()


def test_remove_stale_temps_keeps_an_idle_folder_of_another_host(tmp_path: Path) -> None:
    """A long export on another host stops touching its top folder; only a dead pid says orphan."""
    other = tmp_path / ".tree.otherhost-1.abc.tmp"
    (other / "train").mkdir(parents=True)
    old = os.stat(other).st_mtime - files.STALE_TEMP_SECONDS - 5
    os.utime(other, (old, old))
    assert files.remove_stale_temps(tmp_path) == []
    assert (other / "train").is_dir()
