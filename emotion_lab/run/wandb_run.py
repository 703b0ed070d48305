"""Who a W&B run is: its name, tags and notes, the run it resumes, and the run it evaluates.

A name says what differs and which seed (``vire_cnn-beta0.1-lr2e-3-s42``, ``trial-7-s42`` in a
sweep, ``…-fold2-s42`` in cross-validation) so that a project page of many runs, seed repeats
included, can be read without opening each. The W&B id of a training run is kept
in its checkpoints (key ``wandb_run``), so ``ckpt_path=.../last.ckpt`` resumes the same W&B run
from any folder and ``evaluate`` can name the run whose checkpoint it tested.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from emotion_lab.errors import ConfigError

CHECKPOINT_KEY = "wandb_run"
"""Checkpoint entry holding the W&B run that wrote it (id, project, entity, name, group)."""

MAX_TAG_LENGTH = 64  # W&B refuses longer tags
MAX_NAME_LENGTH = 128

SHORT_KEYS = {
    "loss.beta": "beta",
    "loss.lambda_": "lambda",
    "loss.margin": "margin",
    "optimizer.lr": "lr",
    "optimizer.weight_decay": "wd",
    "data.batch_size": "bs",
    "trainer.max_epochs": "ep",
}
"""Overrides shortened in run names; any other key appears as its last segment."""

NOT_IN_NAME = (
    "hydra", "paths", "logger", "callbacks", "trainer", "ckpt_path", "tags", "notes", "trial",
    "seed", "model", "task_name", "extras", "debug", "test", "repeat", "cv",
)  # fmt: skip
"""Override roots that do not say what a run is (where it writes, how it logs, how it runs)."""


def _token(override: str) -> str | None:
    """``loss.beta=0.1`` → ``beta0.1``; a group choice ``optimizer=sgd`` → ``sgd``."""
    key, sep, value = override.lstrip("+~").partition("=")
    if not sep or (key.split(".")[0] in NOT_IN_NAME and key not in SHORT_KEYS):
        return None
    value = re.sub(r"[^\w.+-]+", "_", value).strip("_")
    if "." not in key:
        return value or None
    return f"{SHORT_KEYS.get(key, key.split('.')[-1])}{value}"


def run_name(cfg: DictConfig, overrides: Iterable[str], fold: int | None = None) -> str:
    """``trial-<n>-s<seed>`` in a sweep, else ``<model>-<what the overrides change>-s<seed>``;
    ``fold`` adds ``fold<k>`` before the seed (cross-validation)."""
    trial = cfg.get("trial") or {}
    if trial.get("number") is not None:
        parts = [f"trial-{trial['number']}"]
    else:
        parts = [str(cfg.model.name)] if cfg.get("model") is not None else []
        parts += [t for t in map(_token, overrides) if t]
    if fold is not None:
        parts.append(f"fold{fold}")
    if cfg.get("seed") is not None:
        parts.append(f"s{cfg.seed}")
    return "-".join(parts)[:MAX_NAME_LENGTH] or str(cfg.get("task_name") or "run")


def run_tags(cfg: DictConfig, logger_tags: Iterable[str]) -> list[str]:
    """The logger's tags, the top-level ``tags`` and a sweep's own, each once, in order."""
    tags = [str(t) for t in logger_tags] + [str(t) for t in cfg.get("tags") or []]
    trial = cfg.get("trial") or {}
    if trial.get("sweeper"):
        tags += [f"sweeper:{trial['sweeper']}", f"trial:{trial['number']}"]
    for tag in tags:
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise ConfigError(f"tags: {tag!r} must have 1 to {MAX_TAG_LENGTH} characters (W&B)")
    return list(dict.fromkeys(tags))


def stored_run(checkpoint: Mapping[str, Any], path: str | Path) -> dict[str, Any] | None:
    """The W&B run that wrote ``checkpoint`` (read from ``path``), or None when unknown.

    Checkpoints without the entry (written before it existed) fall back to the run folder's
    ``wandb/latest-run`` link beside their ``checkpoints`` folder.
    """
    entry = checkpoint.get(CHECKPOINT_KEY)
    if isinstance(entry, Mapping) and entry.get("id"):
        return dict(entry)
    latest = Path(path).resolve().parent.parent / "wandb" / "latest-run"
    if latest.is_dir():
        run_id = latest.resolve().name.rsplit("-", 1)[-1]
        return {"id": run_id, "dir": str(latest.resolve())} if run_id else None
    return None


def read_stored_run(path: str | Path, key: str = "ckpt_path") -> dict[str, Any] | None:
    """:func:`stored_run` of the checkpoint file at ``path``, read as data (a file holding
    Python objects is a one-line :class:`CheckpointError` naming ``key``, nothing in it loaded)
    with its tensors left unread (mmap)."""
    from emotion_lab.models.checkpoint import load_data

    checkpoint = load_data(path, key, mmap=True)
    return stored_run(checkpoint, path) if isinstance(checkpoint, Mapping) else None


def run_reference(run: Mapping[str, Any]) -> str:
    """``entity/project/runs/<id>`` (the run's W&B address without the host), as far as known."""
    parts = [run.get("entity"), run.get("project"), "runs", run.get("id")]
    return "/".join(str(p) for p in parts if p)


def evaluation_link(ckpt_path: str, trained: Mapping[str, Any] | None) -> dict[str, Any]:
    """Config entries of an evaluation run that point at what it evaluated."""
    link: dict[str, Any] = {"checkpoint": str(Path(ckpt_path).resolve())}
    if trained:
        link |= {
            "wandb_id": trained.get("id"),
            "wandb_name": trained.get("name"),
            "wandb_run": run_reference(trained),
        }
    return link
