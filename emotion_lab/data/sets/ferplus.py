"""FER+ (Barsoum, Zhang, Canton Ferrer & Zhang, "Training Deep Networks for Facial Expression
Recognition with Crowd-Sourced Label Distribution", ICMI 2016): FER2013's faces relabelled by
10 crowd votes each, as Microsoft's FERPlus repository ships them.

Layout (the repository's ``README.md``, ``src/generate_training_data.py``, ``src/ferplus.py``):

- ``fer2013new.csv`` (top folder ``FERPlus/`` when the repository is cloned): header
  ``Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF``;
  one row per row of FER2013's ``fer2013.csv``, in the same order (rows are matched by
  position, never by the number in the image name, which drifts from the row index); an empty
  ``Image name`` marks a face FER+ dropped (not a face), left out here too;
- the faces themselves are ``fer2013.csv``'s ``pixels`` (the repository only has labels): looked
  for beside ``fer2013new.csv``, else under ``fer2013_root`` (``<data_dir>/fer2013``).
  ``icml_face_data.csv`` is accepted too; that it keeps ``fer2013.csv``'s row order is assumed,
  not confirmed (each row's ``Usage`` must agree with FER+'s, which catches a shifted file).

Splits: ``Usage`` Training → train, PublicTest → val, PrivateTest → test (the repository's
FER2013Train / FER2013Valid / FER2013Test).

Labels: the 8 emotions onto :data:`~emotion_lab.data.sets.BASIC8`, so that label indices match
the other facial sets: neutral → neutral, happiness → happy, surprise, sadness → sad,
anger → angry, disgust, fear, contempt. The votes become labels by the repository's
``FERPlusReader._process_data``: single votes are dropped as outliers; ``majority`` keeps a row
whose top emotion has more than half of the remaining votes; ``probability`` takes the largest
vote counts (ties together) until they hold 75 % of the votes, at most 3 emotions, and keeps the
row if they hold more than half (an unknown or not-a-face count tied with them ends the search).
A row whose result is unknown or not-a-face (NF) is left out, counted, not a bad sample.

- ``label_mode: majority`` — hard labels on every split;
- ``label_mode: probability`` — training rows carry the vote distribution as soft targets (the
  cross-entropy takes them as class probabilities: the repository's ``crossentropy`` mode, and its
  ``probability`` mode in expectation, which draws one label per row and batch from the same
  distribution); their hard label, for sampling and metrics, is the distribution's argmax (ties:
  the first in BASIC8 order). Validation and test rows use ``majority``, as the repository's
  evaluation readers do.

The repository keeps a row only if the argmax index is below ``emotion_count - 2`` with
``emotion_count = 8``, which would also drop fear and contempt; read as the intent (drop unknown
and NF), not copied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.formats.base import ImageSet, Split
from emotion_lab.data.formats.cache import (
    CACHE_DIRNAME,
    SPLITS,
    BadSamples,
    DecodedSplit,
    build_lock,
    cache_location,
    check_split,
    digest,
    file_fingerprint,
    read_cache,
    read_json,
    write_cache,
    write_json,
)
from emotion_lab.data.formats.fer2013_csv import SIDE, USAGE_BY_SPLIT, parse_pixels
from emotion_lab.data.formats.release import locate_release
from emotion_lab.data.formats.text import read_rows
from emotion_lab.data.sets import BASIC8
from emotion_lab.errors import ConfigError

LABELS = "fer2013new.csv"
PIXEL_FILES = ("fer2013.csv", "icml_face_data.csv")

VOTE_COLUMNS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
"""The vote columns of ``fer2013new.csv``, in order (the repository's ``emotion_table`` then
unknown and not-a-face)."""

HEADER: tuple[str, ...] = ("Usage", "Image name", *VOTE_COLUMNS)

IDS: dict[str, str | None] = {
    "neutral": "neutral",
    "happiness": "happy",
    "surprise": "surprise",
    "sadness": "sad",
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "contempt": "contempt",
    "unknown": None,
    "NF": None,
}
"""FER+ emotion → class name; None: left out."""

EMOTIONS = 8
"""Vote columns that are emotions; the last two are unknown and NF."""

TO_CLASS = np.array([BASIC8.index(IDS[c]) for c in VOTE_COLUMNS[:EMOTIONS]])  # type: ignore[arg-type]
"""Column of each FER+ emotion in BASIC8 order."""

LabelMode = Literal["majority", "probability"]
LABEL_MODES: tuple[str, ...] = ("majority", "probability")

SPLIT_OF_USAGE: dict[str, Split] = {usage: split for split, usage in USAGE_BY_SPLIT.items()}

HINT = (
    "FER+ is fer2013new.csv from github.com/microsoft/FERPlus plus FER2013's fer2013.csv (the "
    "Kaggle competition 'Challenges in Representation Learning: Facial Expression Recognition "
    "Challenge'); put fer2013new.csv in {dir} and fer2013.csv beside it or under {fer2013}"
)


def vote_distribution(votes: Sequence[float], mode: str) -> list[float] | None:
    """The 10 normalised weights ``_process_data`` makes of one row's votes, or None where it
    forces "unknown" (no majority; too few or too many emotions in the distribution).

    Outliers (0 or 1 vote) go first. ``majority``: the top count, if more than half of the rest.
    ``probability``: the largest counts, ties together, until 75 % of the votes or 3 entries are
    taken; an unknown or NF count met on the way ends the search and is dropped again unless it
    came first; kept if the taken counts are more than half of the votes and at most 3.
    """
    raw = [0.0 if v < 2 else float(v) for v in votes]
    total = sum(raw)
    taken = [0.0] * len(raw)
    if mode == "majority":
        top = max(raw)
        if not top > 0.5 * total:
            return None
        taken[raw.index(top)] = top
    elif mode == "probability":
        part, count, valid = 0.0, 0, True
        while part < 0.75 * total and count < 3 and valid:
            top = max(raw)
            for i, value in enumerate(raw):
                if value != top:
                    continue
                taken[i], raw[i] = value, 0.0
                part += value
                count += 1
                if i >= EMOTIONS:  # unknown or NF ties with the top counts
                    valid = False
                    if sum(taken) > top:  # emotions came before it: keep those only
                        taken[i] = 0.0
                        count -= 1
                    break
        if sum(taken) <= 0.5 * total or count > 3:
            return None
    else:
        raise ConfigError(f"FER+ label_mode must be one of {', '.join(LABEL_MODES)}; got {mode!r}")
    norm = sum(taken)
    return [v / norm for v in taken]


@dataclass(frozen=True)
class _Row:
    """One data row of ``fer2013new.csv``: kept (label, target), or why not."""

    where: str
    split: Split | None
    label: int | None = None
    target: np.ndarray | None = None
    excluded: str | None = None
    problem: str | None = None


class FerPlus:
    """FER+ read from ``fer2013new.csv`` and FER2013's pixels, with the repository's label rules.

    ``label_mode`` is ``data.source.label_mode``; ``fer2013_root`` is where FER2013's CSV is
    looked for when it is not beside ``fer2013new.csv``.
    """

    name = "ferplus"

    def __init__(
        self,
        root: str | Path,
        label_mode: str = "majority",
        fer2013_root: str | Path | None = None,
        on_bad_sample: str = "error",
        cache_dir: str | Path | None = None,
    ) -> None:
        if label_mode not in LABEL_MODES:
            raise ConfigError(
                f"data.source.label_mode must be one of {', '.join(LABEL_MODES)}; "
                f"got {label_mode!r}"
            )
        self.label_mode = label_mode
        self.root = Path(root)
        BadSamples(on_bad_sample)
        self.on_bad_sample = on_bad_sample
        self.classes: tuple[str, ...] = BASIC8
        fer_dir = Path(fer2013_root) if fer2013_root is not None else self.root / "fer2013"
        hint = HINT.format(dir=self.root, fer2013=fer_dir)
        self.release = locate_release(self.root, (LABELS,), hint)
        self.labels_file = self.release / LABELS
        self.pixels_file = self._find_pixels(fer_dir, hint)
        self._cache_dir, self._prefix = cache_location(
            self.release,
            self.release / CACHE_DIRNAME,
            None if cache_dir is None else Path(cache_dir),
        )
        self._prefix += f"{self.name}-"
        self._settings = digest("ferplus", self.label_mode, on_bad_sample, self.classes)
        self._memo: tuple[str, list[_Row]] | None = None
        self._unsaved: dict[str, tuple[DecodedSplit, list[int]]] = {}

    def _find_pixels(self, fer_dir: Path, hint: str) -> Path:
        for name in PIXEL_FILES:
            if (self.release / name).is_file():
                return self.release / name
        try:
            folder = locate_release(fer_dir, PIXEL_FILES, hint)
        except DatasetNotFoundError:
            raise DatasetNotFoundError(
                f"{self.release}: FER+ labels found but not FER2013's pixels ({' or '.join(PIXEL_FILES)}) "
                f"beside them or under {fer_dir}; {hint}"
            ) from None
        return next(folder / n for n in PIXEL_FILES if (folder / n).is_file())

    # -- the DataSource protocol ---------------------------------------------------------------

    def available_splits(self) -> tuple[Split, ...]:
        present = {r.split for r in self._rows() if r.split is not None and r.label is not None}
        return tuple(s for s in SPLITS if s in present)

    def load(self, split: Split) -> ImageSet:
        """``split`` as 48×48 grey faces with BASIC8 labels (and soft targets for training rows
        in ``probability`` mode); the pixels are parsed once and cached."""
        check_split(split)
        rows = self._rows()
        key = self._key()
        cached = self._unsaved.get(f"{key}/{split}")
        if cached is None:
            manifest = read_json(self._manifest_path(), key)
            data = read_cache(self._split_path(split), key) if manifest else None
            if manifest is not None and data is not None:
                cached = (data, [int(i) for i in manifest["rows"][split]])
            elif manifest is not None and split not in manifest["rows"]:
                raise self._no_split(split)
            else:
                built = self._build(rows)
                if split not in built:
                    raise self._no_split(split)
                cached = built[split]
        data, kept = cached
        targets = None
        if self.label_mode == "probability" and split == "train":
            targets = np.stack([rows[i].target for i in kept]).astype(np.float32)  # type: ignore[misc]
        return ImageSet(
            images=data.images,
            labels=data.labels,
            classes=self.classes,
            source=f"{self.labels_file} ({split})",
            skipped=data.skipped,
            skip_reasons=list(data.skip_reasons),
            unassigned=data.unassigned,
            cache=data.ref,
            targets=targets,
        )

    def describe(self) -> dict[str, Any]:
        """Files read, label rule, id table, split protocol and the rows left out."""
        left_out = Counter(r.excluded for r in self._rows() if r.excluded)
        rule = (
            "majority vote on every split"
            if self.label_mode == "majority"
            else "train: vote distribution as soft targets; val/test: majority vote"
        )
        return {
            "set": self.name,
            "release": str(self.release),
            "read": [str(self.labels_file), str(self.pixels_file)],
            "label_mode": f"{self.label_mode} ({rule}; single votes dropped as outliers)",
            "ids": {k: (v if v is not None else "(left out)") for k, v in IDS.items()},
            "split": "official: Usage Training → train, PublicTest → val, PrivateTest → test",
            "left_out": dict(sorted(left_out.items())),
        }

    # -- internals -----------------------------------------------------------------------------

    def _key(self) -> str:
        return ":".join(
            (self._settings, file_fingerprint(self.labels_file), file_fingerprint(self.pixels_file))
        )

    def _split_path(self, split: str) -> Path:
        return self._cache_dir / f"{self._prefix}{split}-{self._settings}"

    def _manifest_path(self) -> Path:
        return self._cache_dir / f"{self._prefix}rows-{self._settings}.json"

    def _no_split(self, split: str) -> DataError:
        return DataError(f"{self.labels_file}: no usable rows for split {split!r}")

    def _rows(self) -> list[_Row]:
        """Every data row of ``fer2013new.csv`` judged by the label rules (cheap: no pixels)."""
        fingerprint = file_fingerprint(self.labels_file)
        if self._memo is None or self._memo[0] != fingerprint:
            self._memo = (fingerprint, list(self._judge_rows()))
        return self._memo[1]

    def _judge_rows(self) -> Iterator[_Row]:
        path = self.labels_file
        reader = read_rows(path)
        _, header = next(reader, (1, None))
        if header is None or tuple(h.strip() for h in header) != HEADER:
            raise DataError(
                f"{path}:1: expected the FER+ header {','.join(HEADER)}, got "
                f"{','.join(header or []) or 'an empty file'}"
            )
        for line, fields in reader:
            where = f"{path}:{line}"
            usage = fields[0].strip() if fields else ""
            split = SPLIT_OF_USAGE.get(usage)
            if split is None:
                yield _Row(where, None, problem=f"unknown Usage {usage!r}")
                continue
            if len(fields) != len(HEADER):
                yield _Row(
                    where, split, problem=f"expected {len(HEADER)} fields, got {len(fields)}"
                )
                continue
            if not fields[1].strip():
                yield _Row(where, split, excluded="no Image name (dropped by FER+: not a face)")
                continue
            try:
                votes = [int(v) for v in fields[2:]]
            except ValueError:
                yield _Row(where, split, problem=f"votes are not integers: {','.join(fields[2:])}")
                continue
            if min(votes) < 0:
                yield _Row(where, split, problem=f"negative vote count: {','.join(fields[2:])}")
                continue
            mode = self.label_mode if split == "train" else "majority"
            weights = vote_distribution(votes, mode)
            if weights is None:
                yield _Row(where, split, excluded=f"no {mode} label ({mode} rule of FER+)")
                continue
            top = int(np.argmax(weights))
            if top >= EMOTIONS:
                yield _Row(where, split, excluded=f"{mode} vote is {VOTE_COLUMNS[top]}")
                continue
            target = np.zeros(len(BASIC8), dtype=np.float32)
            target[TO_CLASS] = weights[:EMOTIONS]
            target /= target.sum()
            yield _Row(where, split, label=int(np.argmax(target)), target=target)

    def _pixel_rows(self) -> Iterator[tuple[str, str | None, np.ndarray | str]]:
        """(where, Usage, pixels or what is wrong) for every data row of the pixels CSV."""
        path = self.pixels_file
        reader = read_rows(path)
        _, header = next(reader, (1, None))
        cols = [h.strip().lower() for h in header or []]
        if "pixels" not in cols or "usage" not in cols:
            raise DataError(f"{path}:1: expected a header with pixels and Usage columns")
        i_pixels, i_usage = cols.index("pixels"), cols.index("usage")
        for line, fields in reader:
            where = f"{path}:{line}"
            if len(fields) != len(cols):
                yield where, None, f"expected {len(cols)} columns, got {len(fields)}"
                continue
            yield where, fields[i_usage].strip(), parse_pixels(fields[i_pixels])

    def _build(self, rows: list[_Row]) -> dict[Split, tuple[DecodedSplit, list[int]]]:
        """Parse the pixels of every kept row and cache each split (once across processes)."""
        key = self._key()
        with build_lock(self._manifest_path()):
            manifest = read_json(self._manifest_path(), key)
            if manifest is not None:
                out = {}
                for split, kept in manifest["rows"].items():
                    data = read_cache(self._split_path(split), key)
                    if data is None:
                        break
                    out[split] = (data, [int(i) for i in kept])
                else:
                    return out
            parsed = self._parse(rows)
            self._unsaved.clear()
            for split, (data, kept) in parsed.items():
                stored = write_cache(self._split_path(split), key, data)
                parsed[split] = (stored, kept)
                if stored.ref is None:  # unwritable cache folder: parse once per run, not split
                    self._unsaved[f"{key}/{split}"] = (stored, kept)
            write_json(self._manifest_path(), key, {"rows": {s: k for s, (_, k) in parsed.items()}})
        return parsed

    def _parse(self, rows: list[_Row]) -> dict[Split, tuple[DecodedSplit, list[int]]]:
        bad = {s: BadSamples(self.on_bad_sample) for s in SPLITS}
        nowhere = BadSamples(self.on_bad_sample)
        images: dict[Split, list[np.ndarray]] = {s: [] for s in SPLITS}
        kept: dict[Split, list[int]] = {s: [] for s in SPLITS}
        pixel_rows = self._pixel_rows()
        for i, row in enumerate(rows):
            pixels = next(pixel_rows, None)
            if pixels is None:
                raise DataError(
                    f"{row.where}: {self.pixels_file} ends before this row; FER+ rows must match "
                    "fer2013.csv row by row"
                )
            sink = bad[row.split] if row.split else nowhere
            if row.problem:
                sink.report(f"{row.where}: {row.problem}")
                continue
            if row.label is None:
                continue  # left out by the protocol
            where, usage, values = pixels
            if usage != USAGE_BY_SPLIT[row.split]:  # type: ignore[index]
                sink.report(
                    f"{row.where}: Usage {USAGE_BY_SPLIT[row.split]} but {where} says "  # type: ignore[index]
                    f"{usage!r}: the two files are not aligned row by row"
                )
                continue
            if isinstance(values, str):
                sink.report(f"{where}: {values}")
                continue
            images[row.split].append(values)  # type: ignore[index]
            kept[row.split].append(i)  # type: ignore[index]
        if next(pixel_rows, None) is not None:
            raise DataError(
                f"{self.pixels_file} has more rows than {self.labels_file} ({len(rows)}); FER+ "
                "rows must match fer2013.csv row by row"
            )
        out: dict[Split, tuple[DecodedSplit, list[int]]] = {}
        for split in SPLITS:
            merged = bad[split].plus(nowhere)
            if not kept[split]:
                continue
            out[split] = (
                DecodedSplit(
                    images=np.stack(images[split]).reshape(-1, SIDE, SIDE, 1),
                    labels=np.asarray([rows[i].label for i in kept[split]], dtype=np.int64),
                    skipped=merged.count,
                    skip_reasons=merged.reasons,
                    unassigned=merged.unassigned,
                ),
                kept[split],
            )
        if not out:
            raise DataError(f"{self.labels_file}: no usable rows")
        return out
