"""The sweeper plugin stands alone: a foreign Hydra app sweeps with its defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from tests.fixtures_sweep.runner import REPO, best, explain, leaderboard, sweep_env

PLAIN_CONF = REPO / "tests" / "fixtures_sweep" / "plain_conf"
SWEEPERS = ["emotion_lab_optuna", "emotion_lab_hyperopt"]


@pytest.mark.parametrize("sweeper", SWEEPERS)
def test_plugin_configs_resolve_without_the_app(sweeper: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(PLAIN_CONF), version_base="1.3"):
        cfg = compose("plain", overrides=[f"hydra/sweeper={sweeper}"], return_hydra_config=True)
    node = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)  # no app keys, no resolvers
    assert node["_target_"].startswith("hydra_plugins.emotion_lab_sweeper.")
    assert node["trial_key"] is None and node["value_check"] is None
    assert node["study_name"] is None and node["direction"] == "maximize"
    assert all("_target_" in entry for entry in node["samplers"].values())


@pytest.mark.parametrize("sweeper", SWEEPERS)
def test_a_foreign_app_sweeps_with_the_plugins_defaults_alone(tmp_path, sweeper: str) -> None:
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "tests.fixtures_sweep.plain_app",
        "-m",
        f"hydra/sweeper={sweeper}",
        f"hydra.sweep.dir={sweep_dir}",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.seed=3",
        "x=interval(0,1)",
        "cat=a,b",
    ]
    proc = subprocess.run(
        command, cwd=REPO, env=sweep_env(app=False), capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, explain(proc)
    rows = leaderboard(sweep_dir)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 4
    top = best(sweep_dir)
    assert top["study_name"].startswith("plain_app-")  # named from the command, no resolver
    assert top["value"] == max(float(r["value"]) for r in rows)
    overrides = yaml.safe_load((sweep_dir / "0" / ".hydra" / "overrides.yaml").read_text())
    assert not any("trial." in o for o in overrides)  # no trial_key: no app keys written
