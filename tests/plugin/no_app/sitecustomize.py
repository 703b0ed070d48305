"""Hides packages from the interpreters that the plugin's tests start.

``tests/plugin/conftest.py`` puts this folder first on their ``PYTHONPATH``, so Python runs this
module at start-up (``site`` imports ``sitecustomize``): the top-level packages named in
``$PLUGIN_TESTS_HIDE`` (comma-separated; ``emotion_lab``) then cannot be imported there, as where
only the plugin is installed. A launcher's job, a warm worker or a foreign Hydra app that reached
into the app fails with ``ModuleNotFoundError``. The test process uses the same finder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType

ENV = "PLUGIN_TESTS_HIDE"


class HiddenPackages(MetaPathFinder):
    """First on ``sys.meta_path``: importing one of ``names`` or anything below it fails."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (hidden from the plugin's tests, ${ENV})",
                name=fullname,
            )
        return None


def _hide_from_env() -> None:
    names = [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    if names:
        sys.meta_path.insert(0, HiddenPackages(names))


if __name__ == "sitecustomize":  # run by ``site``; imported by the conftest, it hides nothing
    _hide_from_env()
