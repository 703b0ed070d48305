"""One reader per real data set, each reading the set's official release as unpacked.

A new set is one module here (an :class:`~emotion_lab.data.formats.release.OfficialRelease`
subclass, or a folder/CSV reader) plus one ``conf/data/<set>.yaml`` naming it as ``_target_``.
"""

from __future__ import annotations

BASIC7: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The 7 basic expressions in FER2013's order: label 0-6 on every facial set, so that a model
trained on one reads the same label indices as another."""

BASIC8: tuple[str, ...] = (*BASIC7, "contempt")
"""The 7 basic expressions and contempt (AffectNet-8, FER+)."""

MIKELS8: tuple[str, ...] = (
    "amusement",
    "anger",
    "awe",
    "contentment",
    "disgust",
    "excitement",
    "fear",
    "sadness",
)
"""Mikels' 8 emotions, alphabetically (FI-8, EmoSet-118K)."""

SADNESS2: tuple[str, ...] = ("sad", "not_sad")
