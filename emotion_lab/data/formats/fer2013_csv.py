"""FER2013 as Kaggle ships it: one CSV ``emotion,pixels,Usage`` of 48×48 grayscale faces.

The whole file is parsed once into all three splits (parsing is the expensive part, splitting is
free) and each split is cached as ``<csv>.cache/<split>-<settings>.*``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import ImageSet, Split
from emotion_lab.data.formats.cache import (
    SPLITS,
    BadSamples,
    DecodedSplit,
    build_lock,
    cache_location,
    check_split,
    digest,
    file_fingerprint,
    progress,
    read_cache,
    read_json,
    write_cache,
    write_json,
)
from emotion_lab.data.formats.text import read_rows
from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)

FER2013_CLASSES: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)
SIDE = 48
N_PIXELS = SIDE * SIDE

USAGE_BY_SPLIT: dict[Split, str] = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
"""The ``Usage`` value Kaggle's file gives each split (what a writer of the format puts there)."""

USAGE_TO_SPLIT: dict[str, Split] = {
    **{usage.lower(): split for split, usage in USAGE_BY_SPLIT.items()},
    # already-converted files sometimes use the split names themselves
    **{split: split for split in USAGE_BY_SPLIT},
}
"""Lower-cased ``Usage`` values and the split each one means."""


class Fer2013Csv:
    """FER2013 CSV; without a ``Usage`` column every row belongs to ``train``.

    ``hint`` completes the not-found message (what to download, where to put it).
    """

    def __init__(
        self,
        path: str | Path,
        on_bad_sample: str = "error",
        classes: Sequence[str] = FER2013_CLASSES,
        hint: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.classes: tuple[str, ...] = tuple(classes)
        if not self.classes:
            raise ConfigError("classes must not be empty")
        BadSamples(on_bad_sample)  # validates the value now rather than at the first bad row
        self.on_bad_sample = on_bad_sample
        self.hint = hint or (
            "get fer2013.csv from the Kaggle competition 'Challenges in Representation Learning: "
            f"Facial Expression Recognition Challenge' and put it at {self.path}"
        )
        default_dir = self.path.with_name(self.path.name + ".cache")
        self._cache_dir, self._prefix = cache_location(
            self.path, default_dir, None if cache_dir is None else Path(cache_dir)
        )
        self._settings = digest("fer2013_csv", self.classes, on_bad_sample)
        self._unsaved: dict[str, DecodedSplit] = {}
        self._require_file()

    def available_splits(self) -> tuple[Split, ...]:
        """Splits with at least one row; a first call parses the file (later ones read a manifest)."""
        self._require_file()
        manifest = read_json(self._manifest_path(), self._key())
        if manifest is None:
            return tuple(self._parse_and_cache())
        return tuple(s for s in SPLITS if s in manifest["splits"])

    def load(self, split: Split) -> ImageSet:
        """Decoded ``split`` as N×48×48×1 uint8, from the cache when the CSV is unchanged."""
        check_split(split)
        self._require_file()
        key = self._key()
        manifest = read_json(self._manifest_path(), key)
        if manifest is not None and split not in manifest["splits"]:
            raise self._no_split(split, list(manifest["splits"]))
        data = self._unsaved.get(f"{key}/{split}") or read_cache(self._split_path(split), key)
        if data is None:
            parsed = self._parse_and_cache()
            if split not in parsed:
                raise self._no_split(split, list(parsed))
            data = parsed[split]
        else:
            log.debug("cache hit for %s %s", self.path, split)
        return data.image_set(self.classes, f"{self.path} ({split})")

    # -- internals ---------------------------------------------------------------------------

    def _require_file(self) -> None:
        if not self.path.is_file():
            raise DatasetNotFoundError(f"FER2013 CSV not found: {self.path}; {self.hint}")

    def _no_split(self, split: str, present: list[str]) -> DataError:
        return DataError(
            f"{self.path}: no rows for split {split!r} (splits present: {', '.join(present) or 'none'})"
        )

    def _key(self) -> str:
        return f"{self._settings}:{file_fingerprint(self.path)}"

    def _split_path(self, split: str) -> Path:
        return self._cache_dir / f"{self._prefix}{split}-{self._settings}"

    def _manifest_path(self) -> Path:
        return self._cache_dir / f"{self._prefix}splits-{self._settings}.json"

    def _parse_and_cache(self) -> dict[Split, DecodedSplit]:
        """Parse the file and cache every split; processes starting together parse it once."""
        key = self._key()
        with build_lock(self._manifest_path()):
            cached = self._cached_splits(key)
            if cached is not None:
                return cached
            parsed = parse_fer2013_csv(self.path, len(self.classes), self.on_bad_sample)
            self._unsaved.clear()
            for split, data in parsed.items():
                parsed[split] = write_cache(self._split_path(split), key, data)
                if parsed[split].ref is None:
                    # unwritable cache folder: keep this run from parsing the file once per split
                    self._unsaved[f"{key}/{split}"] = data
            write_json(
                self._manifest_path(),
                key,
                {"splits": {s: len(d.labels) for s, d in parsed.items()}},
            )
        return parsed

    def _cached_splits(self, key: str) -> dict[Split, DecodedSplit] | None:
        """Every split of the manifest from the cache, or None if any of them is missing."""
        manifest = read_json(self._manifest_path(), key)
        if manifest is None:
            return None
        out: dict[Split, DecodedSplit] = {}
        for split in SPLITS:
            if split in manifest["splits"]:
                data = read_cache(self._split_path(split), key)
                if data is None:
                    return None
                out[split] = data
        return out


def parse_fer2013_csv(
    path: Path, n_classes: int, on_bad_sample: str = "error"
) -> dict[Split, DecodedSplit]:
    """Parse every row of a FER2013 CSV into per-split uint8 arrays.

    Each pixel string is parsed by numpy in C; only a row that fails that fast path is re-read
    token by token to say exactly what is wrong with it. Row numbers are 1-based file lines.
    """
    per_split = {s: BadSamples(on_bad_sample) for s in SPLITS}
    nowhere = BadSamples(on_bad_sample)  # rows whose split cannot be told
    images: dict[Split, list[np.ndarray]] = {s: [] for s in SPLITS}
    labels: dict[Split, list[int]] = {s: [] for s in SPLITS}
    name = str(path)
    reader = read_rows(path)
    _, header = next(reader, (1, None))
    if header is None:
        raise DataError(f"{name}:1: empty file; expected the header emotion,pixels,Usage")
    cols = [h.strip().lower() for h in header]
    missing = [c for c in ("emotion", "pixels") if c not in cols]
    if missing:
        raise DataError(
            f"{name}:1: header lacks column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
    i_label, i_pixels = cols.index("emotion"), cols.index("pixels")
    i_usage = cols.index("usage") if "usage" in cols else None
    with (
        progress(
            path.stat().st_size, f"parsing {path.name}", in_bytes=True, min_total=16 << 20
        ) as advance,
        warnings.catch_warnings(),
    ):
        # numpy < 2.3 only warns when a pixel string has a non-number in it
        warnings.simplefilter("error", DeprecationWarning)
        for line, row in reader:
            advance(sum(map(len, row)) + len(row))
            if len(row) != len(header):
                nowhere.report(f"{name}:{line}: expected {len(header)} columns, got {len(row)}")
                continue
            if i_usage is None:
                split: Split = "train"
            else:
                usage = row[i_usage].strip()
                if usage.lower() not in USAGE_TO_SPLIT:
                    nowhere.report(
                        f"{name}:{line}: unknown Usage {usage!r} "
                        f"(expected one of {', '.join(USAGE_BY_SPLIT.values())})"
                    )
                    continue
                split = USAGE_TO_SPLIT[usage.lower()]
            label_text = row[i_label].strip()
            try:
                label = int(label_text)
            except ValueError:
                per_split[split].report(f"{name}:{line}: label {label_text!r} is not an integer")
                continue
            if not 0 <= label < n_classes:
                per_split[split].report(f"{name}:{line}: label {label} outside 0..{n_classes - 1}")
                continue
            pixels = parse_pixels(row[i_pixels])
            if isinstance(pixels, str):
                per_split[split].report(f"{name}:{line}: {pixels}")
                continue
            images[split].append(pixels)
            labels[split].append(label)
    out: dict[Split, DecodedSplit] = {}
    for split in SPLITS:
        bad = per_split[split].plus(nowhere)
        if not labels[split]:
            if bad.count:  # a split emptied by skipping is an error, not a missing split
                raise DataError(
                    f"{name}: every row of split {split!r} is bad ({bad.count} skipped; "
                    f"first: {per_split[split].reasons[0]})"
                )
            continue
        out[split] = DecodedSplit(
            images=np.stack(images[split]).reshape(-1, SIDE, SIDE, 1),
            labels=np.asarray(labels[split], dtype=np.int64),
            skipped=bad.count,
            skip_reasons=bad.reasons,
            unassigned=bad.unassigned,
        )
        images[split].clear()
    if not out:
        if nowhere.count or any(b.count for b in per_split.values()):
            raise DataError(
                f"{name}: every row is bad (first: {_first_reason(per_split, nowhere)})"
            )
        raise DataError(f"{name}: no data rows after the header")
    return out


def parse_pixels(text: str) -> np.ndarray | str:
    """48×48 uint8 pixels, or a sentence saying what is wrong with the string."""
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return _pixel_problem(text)
    if values.size != N_PIXELS or (values.size and (values.min() < 0 or values.max() > 255)):
        return _pixel_problem(text)
    return values.astype(np.uint8)


def _pixel_problem(text: str) -> str:
    """Slow path for a rejected row: the first concrete fault, in words."""
    tokens = text.split()
    if len(tokens) != N_PIXELS:
        return f"expected {N_PIXELS} pixels ({SIDE}×{SIDE}), got {len(tokens)}"
    for i, tok in enumerate(tokens, start=1):
        try:
            value = int(tok)
        except ValueError:
            return f"pixel {i} is {tok!r}, not an integer"
        if not 0 <= value <= 255:
            return f"pixel {i} is {value}, outside 0-255"
    return "unparseable pixel string"


def _first_reason(per_split: dict[Split, BadSamples], nowhere: BadSamples) -> str:
    reasons = nowhere.reasons + [r for b in per_split.values() for r in b.reasons]
    return reasons[0] if reasons else "?"
