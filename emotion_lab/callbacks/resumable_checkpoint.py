"""ModelCheckpoint that keeps the best-so-far of an interrupted fit when it resumes elsewhere.

Resuming with ``ckpt_path=<old run>/checkpoints/last.ckpt`` starts a new run folder. Lightning
then drops the saved best score (the folder changed), so the first epoch of the resumed fit
becomes "best" however poor it is, and later ``ckpt_path="best"`` tests the wrong weights. Here
the interrupted fit's best checkpoints are copied into the new folder and their scores kept, so
the new folder holds the true best and the old folder is never written to.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

from emotion_lab.files import atomic_path

log = logging.getLogger(__name__)


class ResumableCheckpoint(ModelCheckpoint):
    """:class:`ModelCheckpoint` whose restored state follows it into a new ``dirpath``."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old_dir = state_dict.get("dirpath")
        with warnings.catch_warnings():  # Lightning's "won't be reloaded": here they are
            warnings.filterwarnings("ignore", message="The dirpath has changed")
            super().load_state_dict(state_dict)
        if self.dirpath is None or old_dir in (None, self.dirpath):
            return  # same folder: Lightning restored everything
        if state_dict.get("best_model_score") is None:
            return
        moved = {
            path: self._copy_here(Path(path)) for path in state_dict.get("best_k_models") or {}
        }
        moved = {old: new for old, new in moved.items() if new is not None}
        best = moved.get(state_dict.get("best_model_path", ""))
        if best is None:
            log.warning(
                "resumed fit: the interrupted fit's best checkpoint %s is gone; best-checkpoint "
                "tracking starts again in %s",
                state_dict.get("best_model_path"),
                self.dirpath,
            )
            return
        self.best_k_models = {
            moved[p]: s for p, s in state_dict["best_k_models"].items() if p in moved
        }
        self.best_model_path = best
        self.best_model_score = state_dict["best_model_score"]
        self.kth_best_model_path = moved.get(state_dict.get("kth_best_model_path", ""), best)
        self.kth_value = state_dict.get("kth_value", self.kth_value)

    def _copy_here(self, old: Path) -> str | None:
        """``old`` copied into this ``dirpath`` under its name (all ranks may race: atomic)."""
        if not old.is_file():
            return None
        new = Path(str(self.dirpath)) / old.name
        if not new.exists():
            with atomic_path(new) as tmp:
                shutil.copyfile(old, tmp)
        return str(new)
