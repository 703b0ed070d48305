"""Hydra and shell conveniences around the commands: the debug group, ``make help`` and the
installed command names."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from emotion_lab.app.checks import check_train_config
from emotion_lab.app.config import compose_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("option", "key", "value"),
    [
        ("fdr", "fast_dev_run", True),
        ("overfit", "overfit_batches", 3),
        ("profiler", "profiler", "simple"),
    ],
)
def test_debug_options_set_the_trainer_flag_over_the_experiment(option, key, value) -> None:
    cfg = compose_config("train", ["experiment=smoke", f"debug={option}"])
    assert cfg.trainer[key] == value
    check_train_config(cfg)
    assert compose_config("train", ["experiment=smoke"]).trainer[key] != value


def test_make_help_lists_every_target_with_its_comment() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    makefile = (REPO / "Makefile").read_text()
    phony = makefile.split(".PHONY:")[1].splitlines()[0].split()
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    listed = {
        line.split()[0]
        for line in out.stdout.splitlines()
        if line.startswith("  ") and line.strip() and not line.startswith("   ")
    }
    assert listed == set(phony)
    first_comment = re.search(r"^## (.+)\ntest:", makefile, re.M)
    assert first_comment is not None and first_comment.group(1) in out.stdout


def test_installed_commands_run_the_modules_apps() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    commands = ("train", "evaluate", "predict", "export", "data", "reproduce")
    assert set(scripts) == {f"emotion-lab-{n}" for n in commands}
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function))
        app = importlib.import_module(f"emotion_lab.{name.removeprefix('emotion-lab-')}")
        if not hasattr(app, "main"):  # a package runs its __main__ (python -m emotion_lab.data)
            app = importlib.import_module(f"{app.__name__}.__main__")
        assert callable(app.main)
