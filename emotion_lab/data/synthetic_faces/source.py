"""The generated benchmark as a ``DataSource``: written once per data root, read as FER2013."""

from __future__ import annotations

from pathlib import Path

from emotion_lab.data.formats.base import ImageSet, OnBadSample, Split
from emotion_lab.data.formats.fer2013_csv import Fer2013Csv
from emotion_lab.data.synthetic_faces.labels import CLASSES, check_label_noise, check_n
from emotion_lab.data.synthetic_faces.writers import csv_filename, write_fer2013_csv
from emotion_lab.errors import ConfigError


class SyntheticFer2013:
    """A ``DataSource`` that writes its CSV under ``root`` on first use, then reads it as FER2013."""

    def __init__(
        self,
        root: str | Path,
        n: int = 12000,
        seed: int = 0,
        label_noise: float = 0.05,
        on_bad_sample: OnBadSample = "error",
    ) -> None:
        check_n(n)
        check_label_noise(label_noise)
        if on_bad_sample not in ("error", "skip"):
            raise ConfigError(f"on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}")
        self.root = Path(root)
        self.n, self.seed, self.label_noise = n, seed, label_noise
        self.on_bad_sample = on_bad_sample
        self.classes = CLASSES
        self.csv_path = self.root / csv_filename(n, seed, label_noise)
        self._reader: Fer2013Csv | None = None

    def _source(self) -> Fer2013Csv:
        if self._reader is None:
            if not self.csv_path.is_file():
                write_fer2013_csv(self.csv_path, self.n, self.seed, self.label_noise)
            self._reader = Fer2013Csv(path=self.csv_path, on_bad_sample=self.on_bad_sample)
        return self._reader

    def available_splits(self) -> tuple[Split, ...]:
        return self._source().available_splits()

    def load(self, split: Split) -> ImageSet:
        return self._source().load(split)
