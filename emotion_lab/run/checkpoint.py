"""Data paths in checkpoints that do not depend on the folder a command runs from.

A checkpoint keeps the run config resolved. With the default ``paths.data_dir: data`` its data
paths were relative to the training folder, so evaluating from another folder looked for (and
silently regenerated) the built-in data there. Checkpoints now store them absolute; at
evaluate time a data folder the user gives (``EMOTION_LAB_DATA`` or ``paths.data_dir=``)
replaces the stored one, and relative paths of older checkpoints are read against it.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

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
