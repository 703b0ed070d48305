"""A typed check of the composed config, before anything is built, written or trained.

Hydra accepts any value for any key (``trainer.max_epochs=abc``), and the mistake would surface
much later as a TypeError deep inside torch or Lightning, naming no key. Here every value the
run depends on is resolved and checked once: numbers are numbers, counts are integers, and
sizes and rates are in range. Each problem is a :class:`~emotion_lab.errors.ConfigError` that
names the key. Keys a config does not have are skipped (``evaluate`` has no optimizer).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from emotion_lab.dotted import lookup
from emotion_lab.errors import ConfigError

_MISSING = object()


@dataclass(frozen=True)
class Number:
    """A numeric key: finite, optionally an integer, within ``[low, high]`` (or open bounds)."""

    key: str
    integer: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False

    def check(self, value: Any) -> None:
        if value is None:
            if not self.nullable:
                raise ConfigError(f"{self.key}: a value is required, got null")
            return
        kind = "an integer" if self.integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.key}: expected {kind}, got {value!r}")
        if self.integer and not isinstance(value, int):
            raise ConfigError(f"{self.key}: expected {kind}, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{self.key}: expected a finite number, got {value!r}")
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        if below or above:
            raise ConfigError(f"{self.key}={value!r}: must be {self.describe_range()}")

    def describe_range(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        assert self.high is not None
        return f"{'<' if self.high_open else '<='} {self.high:g}"


@dataclass(frozen=True)
class Choice:
    """A key whose value is one of a few words."""

    key: str
    options: tuple[str, ...]

    def check(self, value: Any) -> None:
        if value not in self.options:
            raise ConfigError(f"{self.key}: expected one of {list(self.options)}, got {value!r}")


@dataclass(frozen=True)
class BatchLimit:
    """Lightning's ``limit_*_batches``: a fraction in (0, 1], a batch count >= 1, or null."""

    key: str

    def check(self, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, int) and not isinstance(value, bool):
            Number(self.key, integer=True, low=1).check(value)
        else:
            Number(self.key, low=0.0, high=1.0, low_open=True).check(value)


@dataclass(frozen=True)
class Seeds:
    """``repeat.seeds``: a count >= 1, a list of distinct seeds, or null (no repeats)."""

    key: str = "repeat.seeds"

    def check(self, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, list | tuple | ListConfig):
            seeds = list(value)
            ints = all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            if not seeds or not ints or len(set(seeds)) != len(seeds):
                raise ConfigError(f"{self.key} must be distinct seeds, got {seeds}")
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{self.key} must be a count >= 1 or a list of seeds, got {value!r}")


@dataclass(frozen=True)
class Folds:
    """``cv.folds``: null (one ordinary run) or a count >= 2."""

    key: str = "cv.folds"

    def check(self, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ConfigError(
                f"{self.key}={value!r}: must be >= 2 (or null for no cross-validation)"
            )


AGGREGATES = ("mean", "median", "worst")
"""How the runs of a repeat or cross-validation become one value (``objective.aggregate``)."""

DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class OneOf:
    """A word among ``options``, said as ``<key> must be one of a, b, got 'x'``."""

    key: str
    options: tuple[str, ...]

    def check(self, value: Any) -> None:
        if value not in self.options:
            raise ConfigError(f"{self.key} must be one of {', '.join(self.options)}, got {value!r}")


Rule = Number | Choice | BatchLimit | Seeds | Folds | OneOf

RULES: tuple[Rule, ...] = (
    Number("seed", integer=True),
    Number("trainer.max_epochs", integer=True, low=1),
    Number("trainer.min_epochs", integer=True, low=0, nullable=True),
    Number("trainer.max_steps", integer=True, low=-1, nullable=True),
    Number("trainer.log_every_n_steps", integer=True, low=1, nullable=True),
    Number("trainer.check_val_every_n_epoch", integer=True, low=1, nullable=True),
    Number("trainer.num_sanity_val_steps", integer=True, low=-1, nullable=True),
    Number("trainer.accumulate_grad_batches", integer=True, low=1),
    Number("trainer.gradient_clip_val", low=0, nullable=True),
    BatchLimit("trainer.limit_train_batches"),
    BatchLimit("trainer.limit_val_batches"),
    BatchLimit("trainer.limit_test_batches"),
    Number("data.batch_size", integer=True, low=1),
    Number("data.eval_batch_size", integer=True, low=1, nullable=True),
    Number("data.num_workers", integer=True, low=0),
    Number("data.val_fraction", low=0, high=1, low_open=True, high_open=True),
    Number("model.input_size", integer=True, low=1),
    Number("model.in_chans", integer=True, low=1),
    Number("model.width", low=0, low_open=True),
    Number("model.dropout", low=0, high=1, high_open=True),
    Number("optimizer.lr", low=0, low_open=True),
    Number("optimizer.weight_decay", low=0),
    Number("optimizer.momentum", low=0, high=1),
    Number("loss.beta", low=0),
    Number("loss.margin", low=0),
    Number("loss.lambda_", low=0),
    Number("loss.label_smoothing", low=0, high=1, high_open=True),
    Choice("scheduler.interval", ("epoch", "step")),
    Number("scheduler.scheduler.warmup_fraction", low=0, high=1, high_open=True),
    Number("scheduler.scheduler.min_lr_ratio", low=0, high=1),
    Folds(),
    Seeds(),
    OneOf("objective.aggregate", AGGREGATES),
    OneOf("test.checkpoint", ("best", "last")),
    Number("callbacks.early_stopping.patience", integer=True, low=1, nullable=True),
    Choice("objective.direction", DIRECTIONS),
)


def check_config(cfg: DictConfig, rules: Iterable[Rule] = RULES) -> None:
    """Raise a :class:`ConfigError` naming the first key whose value cannot be right."""
    resolved = resolve(cfg)
    for rule in rules:
        value = lookup(resolved, rule.key, _MISSING)
        if value is not _MISSING:
            rule.check(value)
    check_pretrained_init(resolved)


def check_optimizer_betas(value: Any, key: str = "optimizer.betas") -> None:
    """Adam's ``betas``: two numbers in [0, 1)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(f"{key}: expected two numbers [beta1, beta2], got {value!r}")
    for i, beta in enumerate(value):
        Number(f"{key}[{i}]", low=0, high=1, high_open=True).check(beta)


def resolve(cfg: DictConfig) -> dict[str, Any]:
    """Every interpolation resolved; a missing mandatory value or a broken one names its key."""
    try:
        container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "config"
        message = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{key}: {message}") from None
    assert isinstance(container, dict)
    betas = lookup(container, "optimizer.betas", _MISSING)
    if betas is not _MISSING:
        check_optimizer_betas(betas)
    return container


def check_pretrained_init(cfg: Mapping[str, Any]) -> None:
    """An initializer other than ``default`` would wipe the pretrained weights it starts from."""
    model, init = cfg.get("model"), cfg.get("init")
    if not isinstance(model, Mapping) or not isinstance(init, Mapping):
        return
    starts_trained = model.get("pretrained") or model.get("checkpoint_path")
    if starts_trained and init.get("name") != "default":
        raise ConfigError(
            f"init={init.get('name')} would overwrite the pretrained weights of "
            f"model.{model.get('name')}; use init=default"
        )


def check_train_config(cfg: DictConfig) -> None:
    """:func:`check_config`, plus a resume checkpoint that Lightning will be able to read."""
    check_config(cfg)
    if cfg.get("ckpt_path"):
        from emotion_lab.models.checkpoint import read_checkpoint

        read_checkpoint(cfg.ckpt_path, "ckpt_path")


def check_value(key: str, value: Any) -> None:
    """Check one value as :func:`check_config` would at ``key`` (keys without a rule pass)."""
    for rule in RULES:
        if rule.key == key:
            rule.check(value)
