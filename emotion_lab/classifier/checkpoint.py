"""The checkpoint format's one owner: what an emotion-lab checkpoint stores beside Lightning's
state (the run config and the class list), how it is read back, and its data paths.

Every reader (``evaluate``, ``predict``, ``export``, ``load_checkpoint``, a resumed ``train``)
goes through :func:`read_run_checkpoint`, so a foreign file fails with one message everywhere.

Data paths do not depend on the folder a command runs from. A checkpoint keeps the run config
resolved. With the default ``paths.data_dir: data`` its data
paths were relative to the training folder, so evaluating from another folder looked for (and
silently regenerated) the built-in data there. Checkpoints now store them absolute; at
evaluate time a data folder the user gives (``EMOTION_LAB_DATA`` or ``paths.data_dir=``)
replaces the stored one, and relative paths of older checkpoints are read against it.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from emotion_lab.errors import CheckpointError
from emotion_lab.models.checkpoint import read_checkpoint

STORED_KEY = "emotion_lab"
"""The checkpoint entry emotion-lab adds to Lightning's: ``{"config": ..., "classes": [...]}``."""

ENV_VAR = "EMOTION_LAB_DATA"
_PATH_KEYS = ("dir", "root", "path")


def checkpoint_config(cfg: DictConfig) -> dict[str, Any]:
    """``cfg`` resolved for a checkpoint, with ``paths.data_dir`` and ``data.root`` absolute
    (made so before resolving, so every path interpolated from them is absolute too)."""
    out = copy.deepcopy(cfg)
    with open_dict(out):
        for parent, key in (("paths", "data_dir"), ("data", "root")):
            node = out.get(parent)
            value = node.get(key) if isinstance(node, DictConfig) else None
            if isinstance(value, str) and value and not os.path.isabs(value):
                node[key] = os.path.abspath(value)
    return OmegaConf.to_container(out, resolve=True)  # type: ignore[return-value]


def data_dir_given(overrides: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether this command was told where the data lives (environment or override)."""
    if os.environ.get(ENV_VAR):
        return True
    return any(o.lstrip("+~").startswith("paths.data_dir=") for o in overrides)


def rebase_data_paths(data: Any, stored_dir: str, data_dir: str, given: bool) -> Any:
    """``data`` (a stored data config) with paths under ``stored_dir`` moved under ``data_dir``.

    They move when the user gave ``data_dir`` or when ``stored_dir`` is relative (a checkpoint
    written before data paths were stored absolute); absolute stored paths are kept otherwise.
    """
    if not stored_dir or not (given or not os.path.isabs(stored_dir)):
        return data
    target = os.path.abspath(data_dir)
    stored = stored_dir.rstrip("/")

    def move(key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(str(k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(key, v) for v in value]
        if not isinstance(value, str):
            return value
        if value == stored and key.endswith(_PATH_KEYS):
            return target
        if value.startswith(stored + "/"):
            return target + value[len(stored) :]
        return value

    return move("data", data)


def stored_entry(run_config: dict[str, Any], classes: tuple[str, ...]) -> dict[str, Any]:
    """What a training run adds to each checkpoint it writes (``on_save_checkpoint``)."""
    return {"config": run_config, "classes": list(classes)}


@dataclass(frozen=True)
class RunCheckpoint:
    """An emotion-lab checkpoint read back: its run config, classes and the whole file."""

    config: DictConfig
    classes: tuple[str, ...]
    checkpoint: dict[str, Any]


def read_run_checkpoint(path: str | Path, key: str = "ckpt_path") -> RunCheckpoint:
    """The checkpoint at ``path`` (named ``key`` in messages) with its run config and classes;
    a file that is not an emotion-lab checkpoint is one line saying so."""
    checkpoint = read_checkpoint(path, key)
    entry = checkpoint.get(STORED_KEY)
    saved = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{key}={str(path)!r}: not an emotion-lab checkpoint (no saved run config)"
        )
    classes = tuple(str(c) for c in entry.get("classes") or ())
    if not classes:
        raise CheckpointError(f"{key}={str(path)!r}: the checkpoint names no classes")
    return RunCheckpoint(OmegaConf.create(saved), classes, checkpoint)


def stored_classes(path: str | Path, key: str = "ckpt_path") -> tuple[str, ...] | None:
    """The class list a checkpoint was trained on; None for one that does not record it
    (Lightning's own checkpoints), which Lightning then checks by shape alone."""
    entry = read_checkpoint(path, key).get(STORED_KEY)
    classes = entry.get("classes") if isinstance(entry, dict) else None
    return tuple(str(c) for c in classes) if isinstance(classes, list | tuple) else None
