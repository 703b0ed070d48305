"""``python -m emotion_lab.compare <folders...>``: mean ± 95 % CI per group of runs, the
difference to a reference group and whether it is within noise (see comparison/table.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from emotion_lab.app.entry import one_line_errors
from emotion_lab.comparison.table import Comparison, run_compare


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emotion_lab.compare",
        description="Compare runs: mean ± 95 % CI per group, the difference to a reference "
        "group and whether it is within noise.",
    )
    parser.add_argument("folders", nargs="+", help="run, multirun, repeat or sweep folders")
    parser.add_argument(
        "--by", action="append", default=[], help="group by this config key (repeatable)"
    )
    parser.add_argument(
        "--metric", action="append", default=[], help="metric to compare (repeatable)"
    )
    parser.add_argument("--reference", help="the reference group: a --by value or a group label")
    parser.add_argument("--out", help="output folder (default: <folder>/compare for one folder)")
    parser.add_argument("--umap", action="store_true", help="side-by-side UMAPs, one run per group")
    parser.add_argument("--umap-runs", nargs="+", default=[], help="run folders to draw instead")
    parser.add_argument(
        "--wandb", default="offline", choices=["offline", "online", "disabled"], help="W&B mode"
    )
    return parser.parse_args(argv)


@one_line_errors
def main(argv: Sequence[str] | None = None) -> Comparison:
    args = parse_args(argv)
    return run_compare(
        args.folders,
        by=args.by,
        metrics=args.metric,
        reference=args.reference,
        out_dir=args.out,
        umap=args.umap,
        umap_runs=args.umap_runs,
        wandb_mode=args.wandb,
    )


if __name__ == "__main__":
    main()
