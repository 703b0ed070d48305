"""Errors for bad input: each message is one line naming the file, row, path or key at fault."""

from __future__ import annotations

from emotion_lab.errors import UserError


class DataError(UserError, ValueError):
    """A data file or sample is malformed (wrong pixel count, unknown label, unreadable image...)."""


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A data set is not where its config points; the message says what to get and where to put it."""
