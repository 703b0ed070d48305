"""The plugin's tests run without the app: ``emotion_lab`` cannot be imported here, nor in the
processes these tests start, and every module of the plugin imports all the same."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import hydra_plugins.emotion_lab_sweeper as plugin
from tests.fixtures_sweep.runner import REPO

MODULES = [plugin.__name__] + [
    f"{plugin.__name__}.{m.name}" for m in pkgutil.iter_modules(plugin.__path__)
]


def test_the_app_cannot_be_imported_here() -> None:
    with pytest.raises(ModuleNotFoundError, match="emotion_lab"):
        import emotion_lab  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match="emotion_lab"):
        importlib.import_module("emotion_lab.files")
    assert not [m for m in sys.modules if m.partition(".")[0] == "emotion_lab"]


@pytest.mark.parametrize("name", MODULES)
def test_every_plugin_module_imports_here(name: str) -> None:
    importlib.import_module(name)


def test_a_process_started_here_has_the_whole_plugin_and_no_app() -> None:
    """A fresh interpreter imports every module of the plugin, with the app's source folder on
    its ``sys.path`` (the working directory), and still has no ``emotion_lab``."""
    probe = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "try:\n"
        "    import emotion_lab\n"
        "except ModuleNotFoundError:\n"
        "    print('no app')\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'emotion_lab'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[-3:] == ["no app", "[]", ""], proc.stdout + proc.stderr
    assert len(MODULES) > 20  # the scan found the plugin's modules
