"""The checkpoint format's one owner: what an emotion-lab checkpoint stores beside Lightning's
state (the run config and the class list), how it is read back, and its data paths.

Every reader (``evaluate``, ``predict``, ``export``, ``load_checkpoint``, a resumed ``train``)
goes through :func:`read_run_checkpoint` (or :func:`stored_classes`), so a foreign file fails
with one message everywhere.

A checkpoint may come from elsewhere, so it is read as data: the file through
:func:`~emotion_lab.models.checkpoint.load_data` (no pickled Python objects), and the stored run
config, which the readers instantiate, only when every ``_target_`` in it (nested ones, lists
and ``_partial_`` nodes included) is one emotion-lab builds (:func:`built_target`): the targets
of ``conf/`` and ``sweeps/`` (:data:`CONFIG_TARGETS`, kept equal to them by
``tests/unit/test_checkpoint_safety.py``), those of earlier versions' configs
(:data:`FORMER_TARGETS`), and torch's optimizers, learning-rate schedulers and losses. Anything
else is one line naming the node, and nothing of the config is called. Its strings are kept as
they were stored (the config was stored resolved): an ``${...}`` in one is text, never an
interpolation that could build a node of its own.

Data paths do not depend on the folder a command runs from. A checkpoint keeps the run config
resolved. With the default ``paths.data_dir: data`` its data
paths were relative to the training folder, so evaluating from another folder looked for (and
silently regenerated) the built-in data there. Checkpoints now store them absolute; at
evaluate time a data folder the user gives (``EMOTION_LAB_DATA`` or ``paths.data_dir=``)
replaces the stored one, and relative paths of older checkpoints are read against it.
"""

from __future__ import annotations

import copy
import inspect
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from emotion_lab.errors import CheckpointError
from emotion_lab.models.checkpoint import read_checkpoint

STORED_KEY = "emotion_lab"
"""The checkpoint entry emotion-lab adds to Lightning's: ``{"config": ..., "classes": [...]}``."""

CONFIG_TARGETS = frozenset(
    {
        # conf/model/*
        "emotion_lab.models.create_model",
        # conf/loss/*
        "emotion_lab.losses.EmotionLoss",
        # conf/optimizer/*, conf/scheduler/*
        "torch.optim.Adam",
        "torch.optim.AdamW",
        "torch.optim.SGD",
        "torch.optim.lr_scheduler.ReduceLROnPlateau",
        "emotion_lab.classifier.schedules.cosine_warm_restarts",
        "emotion_lab.classifier.schedules.warmup_cosine",
        # conf/datamodule.yaml, conf/data/*
        "emotion_lab.data.datamodule.EmotionDataModule",
        "emotion_lab.data.formats.annotations.AnnotationFile",
        "emotion_lab.data.formats.folders.ImageFolders",
        "emotion_lab.data.sets.affectnet.AffectNet7",
        "emotion_lab.data.sets.affectnet.AffectNet8",
        "emotion_lab.data.sets.caers.CaerS",
        "emotion_lab.data.sets.emoset.EmoSet118K",
        "emotion_lab.data.sets.expw.ExpW",
        "emotion_lab.data.sets.face_expression.FaceExpression",
        "emotion_lab.data.sets.fer2013.Fer2013",
        "emotion_lab.data.sets.ferplus.FerPlus",
        "emotion_lab.data.sets.fi.Fi8",
        "emotion_lab.data.sets.rafdb.RafDb",
        "emotion_lab.data.sets.webemo.WebEmo",
        "emotion_lab.data.synthetic_faces.SyntheticFer2013",
        # conf/augmentation/*
        "emotion_lab.data.transforms.BatchAugment",
        "emotion_lab.data.transforms.RandAugment",
        "emotion_lab.data.transforms.RandomAffine",
        "emotion_lab.data.transforms.RandomBrightness",
        "emotion_lab.data.transforms.RandomHorizontalFlip",
        "emotion_lab.data.transforms.RandomResizedCrop",
        # conf/callbacks/*, conf/sweep_trial/*, conf/trainer/*, conf/logger/*, conf/hydra/*
        "emotion_lab.callbacks.BestWeightsEarlyStopping",
        "emotion_lab.callbacks.TestAnalysis",
        "emotion_lab.callbacks.class_balance.ClassBalancePlot",
        "emotion_lab.callbacks.finite_loss.FiniteLossGuard",
        "emotion_lab.callbacks.model_summary.CompactModelSummary",
        "emotion_lab.callbacks.resumable_checkpoint.ResumableCheckpoint",
        "emotion_lab.callbacks.timing.RunTimer",
        "emotion_lab.callbacks.wandb_link.WandbRunLink",
        "emotion_lab.callbacks.wandb_media.WandbMedia",
        "emotion_lab.sweep.ddp.TrialDDPStrategy",
        "emotion_lab.sweep.pruning.OptunaPruningCallback",
        "emotion_lab.comparison.after_multirun.CompareAfterMultirun",
        "lightning.pytorch.Trainer",
        "lightning.pytorch.callbacks.LearningRateMonitor",
        "lightning.pytorch.callbacks.RichProgressBar",
        "lightning.pytorch.loggers.CSVLogger",
        "lightning.pytorch.loggers.TensorBoardLogger",
        "lightning.pytorch.loggers.WandbLogger",
    }
)
"""Every ``_target_`` of ``conf/`` and ``sweeps/``: what emotion-lab's own configs build. A new
config ``_target_`` (a data set, a callback) is added here; the test of this list says which."""

FORMER_TARGETS = frozenset(
    {
        "emotion_lab.data.catalog.dataset_source",
        "emotion_lab.data.formats.fer2013_csv.Fer2013Csv",
        "emotion_lab.optim.cosine_warm_restarts",
        "emotion_lab.optim.warmup_cosine",
        "lightning.pytorch.callbacks.ModelCheckpoint",
    }
)
"""Targets that earlier versions' configs stored in checkpoints (``git log -p conf``): their
checkpoints still load (``load_checkpoint`` builds only the model, loss and optimizer)."""

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
    a file that is not an emotion-lab checkpoint, or whose config names a ``_target_`` that
    emotion-lab does not build, is one line saying so (see the module docstring)."""
    checkpoint = read_checkpoint(path, key)
    entry = checkpoint.get(STORED_KEY)
    saved = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{key}={str(path)!r}: not an emotion-lab checkpoint (no saved run config)"
        )
    config = stored_config(saved, f"{key}={str(path)!r}")
    classes = tuple(str(c) for c in entry.get("classes") or ())
    if not classes:
        raise CheckpointError(f"{key}={str(path)!r}: the checkpoint names no classes")
    return RunCheckpoint(config, classes, checkpoint)


def stored_classes(path: str | Path, key: str = "ckpt_path") -> tuple[str, ...] | None:
    """The class list a checkpoint was trained on; None for one that does not record it
    (Lightning's own checkpoints), which Lightning then checks by shape alone. A stored run
    config is checked as :func:`read_run_checkpoint` checks it."""
    entry = read_checkpoint(path, key).get(STORED_KEY)
    if isinstance(entry, dict) and entry.get("config") is not None:
        check_targets(entry["config"], f"{key}={str(path)!r}")
    classes = entry.get("classes") if isinstance(entry, dict) else None
    return tuple(str(c) for c in classes) if isinstance(classes, list | tuple) else None


def stored_config(saved: Mapping[str, Any], source: str) -> DictConfig:
    """A run config read from a checkpoint (``source`` starts the errors), as the data it is:
    every ``_target_`` checked (:func:`check_targets`), every string literal."""
    check_targets(saved, source)
    try:
        return OmegaConf.create(_literal(saved))
    except OmegaConfBaseException as exc:  # a value that is not plain data (a tensor, ...)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{source}: the stored config is not plain data ({reason})") from None


def check_targets(config: Any, source: str) -> None:
    """Refuse a stored config with a ``_target_`` emotion-lab does not build: one line naming
    the node's key (``optimizer._target_``, ``callbacks.list[0]._target_``); nothing is called."""
    for where, target in _targets(config, ""):
        if not built_target(target):
            raise CheckpointError(
                f"{source}: the stored config's {where} {target!r} is not one emotion-lab "
                "builds; nothing in the checkpoint was called"
            )


def built_target(target: object) -> bool:
    """Whether a stored ``_target_`` is one emotion-lab builds: a target of its configs, now
    (:data:`CONFIG_TARGETS`) or before (:data:`FORMER_TARGETS`), or a public torch optimizer
    (``torch.optim.<Name>``), learning-rate scheduler (``torch.optim.lr_scheduler.<Name>``) or
    loss (``torch.nn.<Name>Loss``). Only names are compared: nothing is imported or called."""
    if not isinstance(target, str):
        return False
    if target in CONFIG_TARGETS or target in FORMER_TARGETS:
        return True
    return _torch_family(target)


def _torch_family(target: str) -> bool:
    module, _, name = target.rpartition(".")
    if not name.isidentifier() or name.startswith("_"):
        return False
    if module == "torch.optim":
        return _subclass(vars(torch.optim).get(name), torch.optim.Optimizer)
    if module == "torch.optim.lr_scheduler":
        schedulers = (
            torch.optim.lr_scheduler.LRScheduler,
            torch.optim.lr_scheduler.ReduceLROnPlateau,
        )
        return _subclass(vars(torch.optim.lr_scheduler).get(name), schedulers)
    if module == "torch.nn":
        return name.endswith("Loss") and _subclass(vars(torch.nn).get(name), torch.nn.Module)
    return False


def _subclass(obj: object, base: type | tuple[type, ...]) -> bool:
    return inspect.isclass(obj) and issubclass(obj, base)


def _targets(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(key path, value)`` of every ``_target_`` in nested mappings and lists."""
    if isinstance(node, Mapping):
        for k, value in node.items():
            here = f"{path}.{k}" if path else str(k)
            if k == "_target_":
                yield here, value
            else:
                yield from _targets(value, here)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}[{i}]")


_INTERPOLATION = re.compile(r"(\\*)\$\{")


def _literal(node: Any) -> Any:
    """``node`` with each ``${`` in its strings escaped, so that OmegaConf keeps it as text: the
    config was stored resolved, and an interpolation in a file from elsewhere could otherwise
    call a resolver or build a node (``${oc.create:...}``) that no ``_target_`` check saw."""
    if isinstance(node, Mapping):
        return {k: _literal(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_literal(v) for v in node]
    if isinstance(node, str):
        return _INTERPOLATION.sub(lambda m: m.group(1) * 2 + "\\${", node)
    return node
