"""Checkpoint writes that a kill or a full disk cannot turn into a broken last checkpoint."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emotion_lab.errors import CheckpointError
from emotion_lab.run.checkpoint_io import AtomicCheckpointIO


def _state(size: int) -> dict:
    return {"state_dict": {"w": torch.arange(size, dtype=torch.float32)}, "epoch": size}


def test_a_write_that_dies_midway_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch) -> None:
    io, last = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint(_state(10), last)
    real_save = torch.save

    def dies_midway(obj, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        f.write(b"PK\x03\x04half a checkpoint")
        raise KeyboardInterrupt  # a kill, Ctrl-C, or an OOM kill of the writer

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint(_state(20), last)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(last, weights_only=True)["epoch"] == 10
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # no temp left


def test_the_temp_file_is_beside_the_checkpoint_not_in_tmpdir(tmp_path, monkeypatch) -> None:
    seen: list[Path] = []
    real_save = torch.save

    def spy(obj, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(Path(f.name))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setenv("TMPDIR", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(torch, "save", spy)
    AtomicCheckpointIO().save_checkpoint(_state(3), tmp_path / "ck" / "last.ckpt")
    assert seen and seen[0].parent == tmp_path / "ck"


def test_a_full_disk_is_one_line_naming_the_file_and_the_intact_one(tmp_path, monkeypatch) -> None:
    io, last = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint(_state(5), last)

    def full(obj, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError) as err:
        io.save_checkpoint(_state(6), last)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"cannot write checkpoint {last}: No space left")
    assert f"resume with ckpt_path={last}" in text
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["epoch"] == 5


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounts a tmpfs")
def test_a_real_full_disk_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        code = (
            "import torch, sys\n"
            "from emotion_lab.run.checkpoint_io import AtomicCheckpointIO\n"
            "from emotion_lab.errors import CheckpointError\n"
            f"io, last = AtomicCheckpointIO(), {str(disk / 'last.ckpt')!r}\n"
            "io.save_checkpoint({'w': torch.zeros(1000)}, last)\n"
            "try:\n"
            "    io.save_checkpoint({'w': torch.zeros(400_000)}, last)\n"
            "except CheckpointError as err:\n"
            "    print(err)\n"
            "print(torch.load(last, weights_only=True)['w'].numel())\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0].startswith("cannot write checkpoint") and "No space left" in lines[0]
        assert lines[1] == "1000"
        assert [p.name for p in disk.iterdir()] == ["last.ckpt"]
    finally:
        subprocess.run(["umount", str(disk)])


def test_every_trainer_the_app_builds_writes_checkpoints_this_way(tmp_path: Path) -> None:
    from emotion_lab.app.config import compose_config
    from emotion_lab.run.builders import build_trainer

    cfg = compose_config("train", ["experiment=smoke"], output_dir=str(tmp_path))
    trainer = build_trainer(cfg, [], [])
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
