"""``python -m emotion_lab.predict ckpt_path=<file> input=<image, folder or glob>``.

Classifies image files with a trained checkpoint, preprocessed as its training batches were
(see :mod:`emotion_lab.classifier.inference`): one row per image with the predicted class and every class
probability, printed as a table and written to ``predictions.csv`` in the run folder.
"""

from __future__ import annotations

import csv
import glob
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from emotion_lab.app.config import register_resolvers
from emotion_lab.app.entry import one_line_errors, run_app
from emotion_lab.classifier.inference import TrainedModel, load_checkpoint
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.decode import decode_problem
from emotion_lab.data.formats.folders import image_extensions, list_images
from emotion_lab.errors import ConfigError, MissingFileError
from emotion_lab.files import atomic_path

log = logging.getLogger(__name__)
register_resolvers()

CSV_NAME = "predictions.csv"
_GLOB_CHARS = frozenset("*?[")


def input_files(spec: str) -> list[Path]:
    """The images ``input`` names: one file, every image under a folder, or a glob's matches."""
    if not spec:
        raise ConfigError("input: give an image, a folder or a glob (input=faces/*.png)")
    path = Path(spec).expanduser()
    if _GLOB_CHARS & set(spec):
        exts = image_extensions()
        matches = sorted(glob.glob(str(path), recursive=True))
        # a link that loops or dangles stays in, so that decoding names it instead of dropping it
        files = [
            Path(m)
            for m in matches
            if Path(m).suffix.lower() in exts and (Path(m).is_file() or Path(m).is_symlink())
        ]
        if not files:
            raise MissingFileError(f"input={spec!r}: the pattern matches no image files")
        return files
    if path.is_dir():
        files = [f.path for f in list_images(path)]
        if not files:
            raise DataError(f"input={spec!r}: the folder holds no image files")
        return files
    if not path.is_file():
        if path.is_symlink():
            raise DataError(f"input={spec!r}: {decode_problem(path, _resolve_error(path))}")
        raise MissingFileError(f"input={spec!r}: no such file or folder")
    return [path]


def _resolve_error(path: Path) -> OSError:
    """Why a link cannot be followed (it loops, or its target is missing)."""
    try:
        path.stat()
    except OSError as err:
        return err
    return FileNotFoundError(str(path))


def predict_files(trained: TrainedModel, files: list[Path], batch_size: int) -> torch.Tensor:
    """Class probabilities of ``files``, ``batch_size`` images decoded at a time."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    parts = [
        trained.predict(files[start : start + batch_size])
        for start in range(0, len(files), batch_size)
    ]
    return torch.cat(parts) if parts else torch.empty((0, len(trained.classes)))


def write_csv(path: Path, files: list[Path], probs: torch.Tensor, classes: tuple[str, ...]) -> None:
    """Write the predictions whole or not at all: a stopped run leaves no half-written CSV."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "predicted", "confidence", *(f"p_{c}" for c in classes)])
        for file, row in zip(files, probs.tolist(), strict=True):
            best = max(range(len(row)), key=row.__getitem__)
            writer.writerow(
                [str(file), classes[best], f"{row[best]:.6f}", *(f"{p:.6f}" for p in row)]
            )


def print_table(
    files: list[Path], probs: torch.Tensor, classes: tuple[str, ...], limit: int
) -> None:
    """The first ``limit`` rows on the console (all of them are in the CSV)."""
    table = Table(title="emotion-lab predictions", title_justify="left")
    table.add_column("image", overflow="fold")
    table.add_column("predicted", style="bold")
    for name in classes:
        table.add_column(name, justify="right")
    for file, row in list(zip(files, probs.tolist(), strict=True))[:limit]:
        best = max(range(len(row)), key=row.__getitem__)
        table.add_row(file.name, classes[best], *(f"{p:.3f}" for p in row))
    if len(files) > limit:
        table.caption = f"{limit} of {len(files)} images shown"
    Console(width=160).print(table)


def predict(cfg: DictConfig) -> Path:
    """Classify ``cfg.input`` with ``cfg.ckpt_path``; returns the CSV written."""
    files = input_files(str(cfg.input))
    trained = load_checkpoint(cfg.ckpt_path, map_location=str(cfg.device))
    probs = predict_files(trained, files, int(cfg.batch_size))
    out = Path(cfg.paths.output_dir) / CSV_NAME
    write_csv(out, files, probs, trained.classes)
    print_table(files, probs, trained.classes, int(cfg.show))
    print(f"wrote {out}")
    return out


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
@one_line_errors
def main(cfg: DictConfig) -> None:
    predict(cfg)


if __name__ == "__main__":
    run_app(main, "predict")
