"""Hydra's own launcher test suites, applied to the process launcher warm and cold.

The same suites Hydra's launcher plugins (joblib, submitit...) run: sweeps of Hydra's test app
(``hydra.test_utils``), which knows nothing of this project, so they also check that
``hydra/launcher=process`` is found by any app.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hydra import version
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

MODES = pytest.mark.parametrize(
    ("launcher_name", "overrides"),
    [
        pytest.param("process", ["hydra.launcher.warm=true"], id="warm"),
        pytest.param("process", ["hydra.launcher.warm=false"], id="cold"),
    ],
)


@pytest.fixture(autouse=True)
def _hydra_compat_version_base() -> Iterator[None]:
    """The suites expect Hydra's defaults for an unset ``version_base`` (1.1: jobs change into
    their folder); a test before them that composed with ``version_base="1.3"`` leaves 1.3 in
    Hydra's state, which the launcher hands to every job."""
    base = version.VersionBase.instance()
    saved = base.getbase()
    base.setbase(version.__compat_version__)
    yield
    version.VersionBase.instance().version_base = saved


def test_discovery() -> None:
    assert "ProcessLauncher" in [p.__name__ for p in Plugins.instance().discover(Launcher)]


@MODES
class TestProcessLauncher(LauncherTestSuite):
    """Hydra's launcher suite: sweeps of its test app through our launcher, in this process."""


# Hydra's own plugins list these without ``override``, which Hydra 1.3 refuses for groups that
# its primary defaults already set
_DEFAULTS = [
    {"override hydra/launcher": "process"},
    {"override hydra/hydra_logging": "hydra_debug"},
    {"override hydra/job_logging": "disabled"},
]


@pytest.mark.slow  # every case runs a generated app as its own program
@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [
        pytest.param(
            {"defaults": _DEFAULTS},
            ["-m", "hydra.launcher.warm=true"],
            id="warm",
        ),
        pytest.param(
            {"defaults": _DEFAULTS},
            ["-m", "hydra.launcher.warm=false"],
            id="cold",
        ),
    ],
)
class TestProcessLauncherIntegration(IntegrationTestSuite):
    """Hydra's integration suite: a generated app run as its own program, jobs launched by us."""
