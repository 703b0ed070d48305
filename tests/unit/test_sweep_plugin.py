"""A plain emotion-lab run never imports Optuna or Hyperopt, though Hydra's scan loads the
sweeper plugin (that a foreign Hydra app sweeps with the plugin alone: tests/plugin/
test_foreign_app.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.fixtures_sweep.runner import REPO, explain, sweep_env


def test_plain_train_does_not_import_optuna_or_hyperopt() -> None:
    """Hydra's plugin scan, the train config and every callback it builds; a plain run has no
    pruning callback, and one built from the trial-side config without a storage stays inert."""
    probe = (
        "import sys\n"
        "from hydra.core.plugins import Plugins\n"
        "Plugins.instance()\n"
        "import emotion_lab.train\n"
        "from emotion_lab.run.builders import build_callbacks\n"
        "from emotion_lab.app.config import compose_config\n"
        "cfg = compose_config('train', ['experiment=smoke'])\n"
        "names = [type(c).__name__ for c in build_callbacks(cfg)]\n"
        "assert 'OptunaPruningCallback' not in names, names\n"
        "cfg = compose_config('train', ['experiment=smoke', '+sweep_trial=optuna'])\n"
        "names = [type(c).__name__ for c in build_callbacks(cfg)]\n"
        "assert 'OptunaPruningCallback' in names, names\n"
        "print(sorted(m for m in ('optuna', 'hyperopt') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=sweep_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.strip().splitlines()[-1] == "[]", explain(proc)
