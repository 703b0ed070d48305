"""Checkpoints written so that a kill or a full disk never destroys the last good one.

Lightning writes a checkpoint through fsspec's transaction, whose temp file lives in ``TMPDIR``:
with ``TMPDIR`` on another file system the final move is a copy over the old file, and a kill
during it leaves ``last.ckpt`` truncated, the only file a resume could start from. Here the new
checkpoint is written beside its final name, flushed to disk and renamed over it, so the old
file stays whole until the new one is; a full disk is one line naming the file, and the
previous checkpoint (which the message names) still resumes the run.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from emotion_lab import files
from emotion_lab.errors import CheckpointError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with a same-folder, fsynced, renamed write for local files."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        target = str(path)
        if "://" in target and not target.startswith("file://"):  # remote stores: Lightning's way
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(target.removeprefix("file://"))
        try:
            with files.atomic_path(target, durable=True) as tmp, tmp.open("wb") as handle:
                # through a Python file, so that a failed write is an OSError with its errno
                # (torch's own writer turns ENOSPC into a bare RuntimeError)
                torch.save(checkpoint, handle)
        except (OSError, RuntimeError) as exc:
            err = _disk_error(exc)
            if err is None:
                raise
            raise CheckpointError(
                f"cannot write checkpoint {target}: {os.strerror(err.errno)}"
                + (
                    f"; the previous one is intact (resume with ckpt_path={target})"
                    if target.exists()
                    else ""
                )
            ) from None


_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def _disk_error(exc: BaseException) -> OSError | None:
    """The full-disk (or read-only, or permission) error behind ``exc``: torch's zip writer
    raises a RuntimeError while closing after the OSError that made it fail."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
