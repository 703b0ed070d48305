"""The plugin's own tests run where ``emotion_lab`` cannot be imported.

The plugin is meant for any Hydra app, so nothing it runs may need this one. While the test
modules of this folder are imported and while their tests run, ``import emotion_lab`` fails in
this process (a finder first on ``sys.meta_path``; modules of the app that tests elsewhere
imported are set aside meanwhile and put back after), and every process the tests start
(launcher jobs, warm workers, a foreign Hydra app, Hydra's test apps) gets ``no_app/`` first on
its ``PYTHONPATH``, whose ``sitecustomize`` hides the app there too.

The exception is the sweep fixture app, ``tests/fixtures_sweep/app.py``: it binds emotion-lab's
sweeper configs (``conf/hydra/sweeper/*.yaml``, with the app's value check) and reports through
the app's trial link, so ``runner.sweep_env()`` gives its sweeps the app back; a foreign app
runs with ``sweep_env(app=False)``, without it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugin.no_app.sitecustomize import ENV, HiddenPackages

HIDDEN = ("emotion_lab",)
SITE = Path(__file__).resolve().parent / "no_app"


@contextlib.contextmanager
def app_hidden() -> Iterator[None]:
    """``import emotion_lab`` (or any module below it) fails inside the block."""
    aside = {n: sys.modules.pop(n) for n in list(sys.modules) if n.partition(".")[0] in HIDDEN}
    finder = HiddenPackages(HIDDEN)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        sys.modules.update(aside)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """Import this folder's test modules (and what they import) without the app."""
    if not isinstance(collector, pytest.Module):
        return (yield)
    with app_hidden():
        return (yield)


@pytest.fixture(scope="package", autouse=True)
def _without_the_app() -> Iterator[None]:
    """Run this folder's tests, and the processes they start, without the app."""
    path = os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))
    with app_hidden(), pytest.MonkeyPatch.context() as env:
        env.setenv(ENV, ",".join(HIDDEN))
        env.setenv("PYTHONPATH", path)
        yield
