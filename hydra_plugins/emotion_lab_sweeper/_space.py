"""Hydra's sweep syntax turned into one search-space description shared by every sweeper.

Both sweepers read ``hydra.sweeper.params`` (and sweep overrides given on the command line)
through :func:`parse_search_space`, so ``choice``, ``range``, ``interval``, ``int(...)`` and
``tag(log, ...)`` mean exactly the same thing to Optuna and to Hyperopt. A sampled point goes
back to Hydra as plain overrides through :meth:`SearchSpace.overrides`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    Glob,
    IntervalSweep,
    Override,
    OverrideType,
    RangeSweep,
    Transformer,
)

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError

CategoricalValue = str | int | float | bool

_KNOWN_TAGS = frozenset({"log"})
_PREFIX = {OverrideType.ADD: "+", OverrideType.FORCE_ADD: "++", OverrideType.CHANGE: ""}


class Kind(str, Enum):
    """How a dimension is searched."""

    CATEGORICAL = "categorical"
    INT = "int"
    FLOAT = "float"


@dataclass(frozen=True)
class Dimension:
    """One searched key; ``low``/``high`` are inclusive, ``step`` makes a numeric one discrete."""

    name: str
    kind: Kind
    source: str
    prefix: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[CategoricalValue, ...] = ()
    choice_texts: tuple[str, ...] = ()
    where: str = ""  # where it was defined, for messages: hydra.sweeper.params.<key> or the CLI

    @property
    def n_steps(self) -> int | None:
        """Number of values of a stepped numeric dimension (``None`` when continuous)."""
        if self.kind is Kind.CATEGORICAL:
            return len(self.choices)
        if self.step is None:
            return None
        assert self.low is not None and self.high is not None
        return int(round((self.high - self.low) / self.step)) + 1

    def value_at(self, index: int) -> CategoricalValue:
        """The ``index``-th value of a discrete dimension (choices, or a ``range``)."""
        if self.kind is Kind.CATEGORICAL:
            return self.choices[index]
        assert self.low is not None and self.step is not None
        value = self.low + index * self.step
        return int(value) if self.kind is Kind.INT else _tidy_float(value)

    def grid(self) -> list[CategoricalValue]:
        """Every value of a discrete dimension, for exhaustive (grid) search."""
        n = self.n_steps
        if n is None:
            raise SweepConfigError(
                f"{self.where or self.name}: {self.source} is continuous; "
                "hydra.sweeper.sampler=grid needs choice() or range()"
            )
        return [self.value_at(i) for i in range(n)]

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a legal point of this dimension."""
        if self.kind is Kind.CATEGORICAL:
            return value in self.choices
        assert self.low is not None and self.high is not None
        if self.kind is Kind.INT and int(value) != value:
            return False
        if not self.low - 1e-12 <= float(value) <= self.high + 1e-12:
            return False
        if self.step is None:
            return True
        k = (float(value) - self.low) / self.step
        return abs(k - round(k)) < 1e-6

    def override(self, value: Any) -> str:
        """The Hydra override that sets this key to ``value``."""
        if self.kind is Kind.CATEGORICAL:
            try:
                text = self.choice_texts[self.choices.index(value)]
            except ValueError:
                raise ValueError(
                    f"param '{self.name}': {value!r} is not one of {list(self.choices)}"
                ) from None
        elif self.step is not None:  # snap to the grid: 0.6000000000000001 -> 0.6
            assert self.low is not None
            text = str(self.value_at(int(round((float(value) - self.low) / self.step))))
        elif self.kind is Kind.INT:
            text = str(int(value))
        else:
            text = format_float(float(value))
        return f"{self.prefix}{self.name}={text}"


@dataclass(frozen=True)
class SearchSpace:
    """The searched dimensions plus the overrides every trial gets unchanged."""

    dimensions: tuple[Dimension, ...]
    fixed: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def dimension(self, name: str) -> Dimension:
        for dim in self.dimensions:
            if dim.name == name:
                return dim
        raise KeyError(name)

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """Fixed overrides followed by one override per sampled parameter."""
        missing = [n for n in self.names if n not in params]
        if missing:
            raise ValueError(f"sampled point lacks params {missing}")
        return [*self.fixed, *(d.override(params[d.name]) for d in self.dimensions)]

    def grid_size(self) -> int:
        return math.prod(len(d.grid()) for d in self.dimensions)

    def describe(self) -> dict[str, Any]:
        """A plain, order-independent summary used to recognise the same study on resume."""
        return {
            "params": {d.name: d.source for d in sorted(self.dimensions, key=lambda d: d.name)},
            "fixed": sorted(self.fixed),
        }


def parse_search_space(
    params: Mapping[str, Any] | None,
    arguments: Sequence[str] = (),
    config_loader: Any | None = None,
) -> SearchSpace:
    """Parse ``hydra.sweeper.params`` then the command-line overrides (which win per key).

    Sweep syntax becomes a :class:`Dimension`; a plain value becomes a fixed override. Errors
    name the offending key, e.g. ``hydra.sweeper.params.optimizer.lr``.
    """
    parser = OverridesParser.create(config_loader=config_loader)
    lines: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        lines.append((f"hydra.sweeper.params.{key}", f"{key}={_yaml_value_text(value)}"))
    lines.extend((f"command-line override '{arg}'", arg) for arg in arguments)

    entries: dict[str, Dimension | str] = {}
    for where, line in lines:
        try:
            (override,) = parser.parse_overrides([line])  # this one also attaches the loader
        except Exception as exc:  # hydra raises its own OverrideParseException
            message = " ".join(str(exc).split())
            raise SweepConfigError(f"{where}: cannot parse '{line}': {message}") from None
        name = _key_name(override)
        entries.pop(name, None)  # a later definition replaces an earlier one, keeping order
        if override.is_sweep_override():
            entries[name] = replace(_dimension(override, name, where), where=where)
        else:
            entries[name] = override.input_line
    dims = tuple(v for v in entries.values() if isinstance(v, Dimension))
    fixed = tuple(v for v in entries.values() if isinstance(v, str))
    return SearchSpace(dimensions=dims, fixed=fixed)


def format_float(value: float) -> str:
    """Shortest text Hydra parses back to the same float."""
    if math.isnan(value) or math.isinf(value):
        raise SweepConfigError(f"cannot pass {value} as an override")
    return repr(float(value))


def quote(text: str) -> str:
    """Single-quote a string for a Hydra override (paths and URLs may hold ':' or spaces)."""
    body = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    body = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, body)
    return f"'{body}'"


def _yaml_value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _key_name(override: Override) -> str:
    key = override.key_or_group
    return f"{key}@{override.package}" if override.package else key


def _dimension(override: Override, name: str, where: str) -> Dimension:
    value = override.value()
    source = override.input_line.split("=", 1)[1]
    prefix = _PREFIX.get(override.type, "")
    tags = set(getattr(value, "tags", set()) or set())
    unknown = tags - _KNOWN_TAGS
    if unknown:
        raise SweepConfigError(
            f"{where}: unknown tag(s) {sorted(unknown)}; only 'log' is understood"
        )
    log = "log" in tags

    if isinstance(value, IntervalSweep):
        low, high = value.start, value.end
        if low is None or high is None or not low < high:
            raise SweepConfigError(f"{where}: interval needs start < end, got {source}")
        if log and low <= 0:
            raise SweepConfigError(f"{where}: tag(log, ...) needs a positive start, got {source}")
        is_int = isinstance(low, int) and isinstance(high, int)
        kind = Kind.INT if is_int else Kind.FLOAT
        return Dimension(
            name, kind, source, prefix, low=low, high=high, log=log
        )  # continuous (int ones: every integer between)

    if log:
        raise SweepConfigError(f"{where}: tag(log, ...) applies to interval() only, got {source}")

    shuffled = bool(getattr(value, "shuffle", False))
    if shuffled:  # order means nothing to a sampler; iterate in the written order
        value.shuffle = False

    if isinstance(value, RangeSweep) and not shuffled:
        numbers = list(override.sweep_iterator())
        if not numbers:
            raise SweepConfigError(f"{where}: {source} is empty")
        if len(numbers) == 1:
            return _categorical(name, source, prefix, numbers, [str(numbers[0])], where)
        assert value.step is not None
        step = abs(value.step)
        low, high = min(numbers), max(numbers)
        if all(isinstance(x, int) for x in numbers):
            return Dimension(name, Kind.INT, source, prefix, low=low, high=high, step=step)
        high = _tidy_float(low + (len(numbers) - 1) * step)
        return Dimension(
            name, Kind.FLOAT, source, prefix, low=float(low), high=float(high), step=float(step)
        )

    if isinstance(value, ChoiceSweep | RangeSweep | Glob):  # shuffle(range()): unordered choice
        if isinstance(value, Glob) and override.config_loader is None:
            raise SweepConfigError(f"{where}: glob() needs the config repository to expand")
        try:
            raw = list(override.sweep_iterator(transformer=Transformer.encode))
            texts = list(override.sweep_string_iterator())
        except Exception as exc:
            raise SweepConfigError(f"{where}: cannot expand {source}: {exc}") from None
        return _categorical(name, source, prefix, raw, texts, where)

    raise SweepConfigError(f"{where}: sweep form {source} is not supported")


def _categorical(
    name: str,
    source: str,
    prefix: str,
    raw: Iterable[Any],
    texts: Sequence[str],
    where: str,
) -> Dimension:
    choices: list[CategoricalValue] = []
    for item, text in zip(raw, texts, strict=True):
        # nested values (lists, dicts) are searched by their override text
        choices.append(item if isinstance(item, str | int | float | bool) else text)
    if not choices:
        raise SweepConfigError(f"{where}: {source} offers no choices")
    if len(set(map(repr, choices))) != len(choices):
        raise SweepConfigError(f"{where}: {source} repeats a choice")
    return Dimension(
        name,
        Kind.CATEGORICAL,
        source,
        prefix,
        choices=tuple(choices),
        choice_texts=tuple(texts),
    )


def _tidy_float(value: float) -> float:
    """Drop binary noise such as 0.30000000000000004 from stepped values."""
    return float(f"{value:.12g}")


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What differs between two study definitions (``{"space": describe(), "direction"}``),
    as a short text naming the keys; empty when they are the same.
    """
    parts: list[str] = []
    if old.get("direction") != new.get("direction"):
        parts.append(f"direction {old.get('direction')} -> {new.get('direction')}")
    old_space, new_space = old.get("space") or {}, new.get("space") or {}
    for label, before, after in (
        ("search space", old_space.get("params") or {}, new_space.get("params") or {}),
        ("fixed overrides", _by_key(old_space.get("fixed")), _by_key(new_space.get("fixed"))),
    ):
        changed = [
            f"{k} {before[k]} -> {after[k]}" for k in before if k in after and before[k] != after[k]
        ]
        added = [k for k in after if k not in before]
        removed = [k for k in before if k not in after]
        details = [
            *(f"changed {c}" for c in changed),
            *([f"added {', '.join(added)}"] if added else []),
            *([f"removed {', '.join(removed)}"] if removed else []),
        ]
        if details:
            parts.append(f"{label}: {'; '.join(details)}")
    return "; ".join(parts)


def _by_key(overrides: Iterable[str] | None) -> dict[str, str]:
    """``["+a.b=1", "c=x"]`` -> ``{"a.b": "1", "c": "x"}``."""
    out: dict[str, str] = {}
    for text in overrides or ():
        key, _, value = str(text).partition("=")
        out[key.lstrip("+~")] = value
    return out
