"""``python -m emotion_lab.data.synthetic_faces``: write the generated data set to disk."""

from __future__ import annotations

import argparse
from pathlib import Path

from emotion_lab.data.synthetic_faces.grid import save_sample_grid
from emotion_lab.data.synthetic_faces.writers import (
    csv_filename,
    export_image_folders,
    write_fer2013_csv,
)


def main(argv: list[str] | None = None) -> None:
    """Command line: write the CSV, and optionally image folders and a sample grid."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_lab.data.synthetic_faces", description=main.__doc__
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV")
    parser.add_argument("--n", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label-noise", type=float, default=0.05)
    parser.add_argument("--folders", type=Path, help="also export <split>/<class>/*.png here")
    parser.add_argument("--grid", type=Path, help="also save a per-class sample grid PNG here")
    args = parser.parse_args(argv)
    try:
        csv_path = write_fer2013_csv(
            args.out / csv_filename(args.n, args.seed, args.label_noise),
            args.n,
            args.seed,
            args.label_noise,
        )
        print(f"wrote {csv_path}")
        if args.folders:
            print(f"wrote {export_image_folders(csv_path, args.folders)}")
        if args.grid:
            print(f"wrote {save_sample_grid(args.grid, seed=args.seed)}")
    except (ValueError, FileExistsError) as err:
        parser.error(str(err))
