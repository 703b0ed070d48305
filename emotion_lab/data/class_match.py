"""Whether a model trained on one class list can be scored on a data set with another.

Indices are what a classifier outputs, so two lists that hold the same names in another order
would score every image against the wrong class without an error. The rule: the data set's
classes must be the trained ones, or a subset of them in the same order (e.g. a 7-class model
on a 3-class test set); anything else is named in one line.
"""

from __future__ import annotations

from collections.abc import Sequence

from emotion_lab.errors import ConfigError


def match_classes(trained: Sequence[str], data: Sequence[str], what: str) -> bool:
    """True when ``data`` equals ``trained``, False when it is an ordered subset of it; a
    :class:`ConfigError` saying what differs (extra, missing, reordered) otherwise. ``what``
    names the two sides for the message (e.g. ``"data=folder"``)."""
    trained, data = tuple(trained), tuple(data)
    if trained == data:
        return True
    extra = [c for c in data if c not in trained]
    if extra:
        missing = [c for c in trained if c not in data]
        tail = f"; it lacks {', '.join(missing)}" if missing else ""
        raise ConfigError(
            f"{what}: the data set has class(es) {', '.join(extra)} that the checkpoint was not "
            f"trained on (checkpoint: {', '.join(trained)}){tail}"
        )
    if len(set(data)) != len(data):
        raise ConfigError(f"{what}: the data set names a class twice ({', '.join(data)})")
    order = [trained.index(c) for c in data]
    if order != sorted(order):
        raise ConfigError(
            f"{what}: the data set has the checkpoint's classes in another order "
            f"(data: {', '.join(data)}; checkpoint: {', '.join(trained)}); class indices "
            "would not match"
        )
    return False


def label_map(trained: Sequence[str], data: Sequence[str]) -> list[int]:
    """The checkpoint's index of each of the data set's classes (an ordered subset)."""
    return [list(trained).index(c) for c in data]
