"""Start-of-run conveniences set by the ``extras`` block: the config as a tree, warnings off.

Lightning-Hydra users expect to see (and keep) the exact config a run used before it starts;
the tree goes to the console and to ``config_tree.txt`` in the run folder, on rank 0 only.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from emotion_lab import files

log = logging.getLogger(__name__)

TREE_FILE = "config_tree.txt"

# Printed first, in this order; every other top-level key follows in config order.
_LEADING = ("data", "model", "loss", "optimizer", "scheduler", "augmentation", "trainer")


def config_tree(cfg: DictConfig, resolve: bool = True) -> Tree:
    """One branch per top-level key, each holding that section's YAML."""
    tree = Tree("config", guide_style="dim")
    keys = [k for k in _LEADING if k in cfg] + [k for k in cfg if k not in _LEADING]
    for key in keys:
        branch = tree.add(str(key), style="bold")
        node = cfg[key]
        if OmegaConf.is_config(node):
            text = OmegaConf.to_yaml(node, resolve=resolve)
        else:
            text = f"{node}\n"
        branch.add(Syntax(text.rstrip("\n"), "yaml", theme="ansi_dark", background_color="default"))
    return tree


def render(tree: Tree, width: int = 100) -> str:
    """``tree`` as plain text (no colour codes), for the file beside the run."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(tree)
    return buffer.getvalue()


@rank_zero_only
def show_config(cfg: DictConfig, folder: str | Path | None) -> Path | None:
    """Print the resolved config as a tree and save it as ``config_tree.txt`` in ``folder``."""
    tree = config_tree(cfg)
    Console().print(tree)
    if folder is None:
        return None
    return files.write_text(Path(folder) / TREE_FILE, render(tree))


def apply_extras(cfg: DictConfig) -> None:
    """Apply ``cfg.extras`` (absent or null: nothing to do)."""
    extras = cfg.get("extras")
    if not extras:
        return
    if extras.get("ignore_warnings"):
        log.info("extras.ignore_warnings=true: Python warnings are not shown")
        warnings.filterwarnings("ignore")
    if extras.get("print_config"):
        show_config(cfg, cfg.paths.get("output_dir") if "paths" in cfg else None)
