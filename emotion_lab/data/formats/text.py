"""Rows of a delimited text file (CSV/TSV) where every failure is one line naming file and line.

Python's ``csv`` and text decoding fail with messages that name neither: an unterminated quote
swallows the rest of the file (``field larger than field limit``), a compressed file or one
latin-1 byte is a bare ``UnicodeDecodeError``. Parsers read through :func:`read_rows` instead.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from emotion_lab.data.errors import DataError

_COMPRESSED = {
    b"\x1f\x8b": "gzip-compressed (decompress it first: gunzip)",
    b"PK\x03\x04": "a zip archive (extract the file from it first)",
    b"BZh": "bzip2-compressed (decompress it first: bunzip2)",
    b"\xfd7zXZ": "xz-compressed (decompress it first: unxz)",
}


def first_line(path: Path) -> str:
    """The first line, leniently decoded: enough to guess the delimiter before parsing."""
    check_not_compressed(path)
    with path.open("rb") as fh:
        return fh.readline().decode("utf-8", errors="replace")


def check_not_compressed(path: Path) -> None:
    """A compressed file given as text is named as such instead of failing as bad UTF-8."""
    with path.open("rb") as fh:
        head = fh.read(8)
    for magic, what in _COMPRESSED.items():
        if head.startswith(magic):
            raise DataError(f"{path}: is {what}, not a text file")


def read_rows(path: Path, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(line, fields) for every non-empty row, header included; ``line`` is the 1-based line
    the row ends on (its own line unless a quoted field spans lines)."""
    check_not_compressed(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise DataError(
                    f"{path}:{start}: malformed row ({err}); an unterminated quote makes the "
                    "row run on to the end of the file"
                ) from None
            except UnicodeDecodeError:
                raise DataError(_not_utf8(path)) from None
            if row:
                yield reader.line_num, row


def _not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits, found by re-reading the file as bytes."""
    with path.open("rb") as fh:
        for line, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return (
                    f"{path}:{line}: byte 0x{raw[err.start]:02x} at column {err.start + 1} is not "
                    "UTF-8; save the file as UTF-8"
                )
    return f"{path}: not UTF-8 text; save the file as UTF-8"
