"""Bad sweep input ends before the first trial: one line naming the key, exit 2, nothing written."""

from __future__ import annotations

import pytest

from tests.fixtures_sweep.runner import explain, leaderboard, run_sweep


def _assert_one_line_error(proc, named: str) -> str:
    assert proc.returncode == 2, explain(proc)
    assert "Traceback" not in proc.stderr, explain(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and named in last, explain(proc)
    return last


@pytest.mark.parametrize(
    ("sweeper", "args", "named"),
    [
        ("optuna", ["x=interval(1,0)"], "command-line override 'x=interval(1,0)': interval needs"),
        ("optuna", ["x=tag(log,interval(0,1))"], "tag(log, ...) needs a positive start"),
        ("optuna", ["x=tag(fancy,interval(0.1,1))"], "unknown tag(s) ['fancy']"),
        (
            "optuna",
            ["x=interval(0,1)", "hydra.sweeper.sampler=grid"],
            "'x=interval(0,1)': interval(0,1) is continuous; hydra.sweeper.sampler=grid needs",
        ),
        ("optuna", ["xx=interval(0,1)"], "'xx=interval(0,1)': Could not override 'xx'"),
        ("hyperopt", ["xx=interval(0,1)"], "'xx=interval(0,1)': Could not override 'xx'"),
        (
            "optuna",
            ["x=interval(0,1)", "+hydra.sweeper.params.yy='choice(1,2)'"],
            "hydra.sweeper.params.yy: Could not override 'yy'",
        ),
        ("optuna", ["flavor=sweet,nope"], "Could not find 'flavor/nope'"),
        ("optuna", ["seed=1,x"], "'seed=1,x': seed: expected an integer, got 'x'"),
        ("hyperopt", ["flavor=nope,sour"], "Could not find 'flavor/nope'"),
        ("optuna", ["x=interval(0,1)", "hydra.sweeper.direction=up"], "hydra.sweeper.direction"),
        ("optuna", ["x=interval(0,1)", "hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials"),
        (
            "optuna",
            ["x=interval(0,1)", "hydra/launcher=process", "hydra.launcher.worker_max_jobs=-1"],
            "hydra.launcher.worker_max_jobs must be >= 1 or null, got -1",
        ),
        (
            "optuna",
            ["x=interval(0,1)", "hydra/launcher=process", "hydra.launcher.cpus_per_job=abc"],
            "hydra.launcher.cpus_per_job must be >= 1, auto or null, got 'abc'",
        ),
        (
            "hyperopt",
            ["x=interval(0,1)", "hydra/launcher=process", "hydra.launcher.timeout_min=soon"],
            "hydra.launcher.timeout_min must be > 0 (minutes) or null, got 'soon'",
        ),
    ],
)
def test_bad_space_or_setting_fails_before_any_trial(tmp_path, sweeper, args, named) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(sweep_dir, "hydra.sweeper.n_trials=2", *args, sweeper=sweeper)
    last = _assert_one_line_error(proc, named)
    assert "Config search path" not in last
    assert not (sweep_dir / "multirun.yaml").exists()  # nothing half-written
    assert not (sweep_dir / "0").exists()


def test_changed_space_in_a_pinned_folder_is_refused_naming_the_keys(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    first = ("x=interval(0,1)", "cat=a,b", "hydra.sweeper.n_trials=2")
    assert run_sweep(sweep_dir, *first).returncode == 0
    multirun = (sweep_dir / "multirun.yaml").read_bytes()
    rows = leaderboard(sweep_dir)
    proc = run_sweep(sweep_dir, "x=interval(0,0.5)", "y=interval(0,1)", "hydra.sweeper.n_trials=2")
    last = _assert_one_line_error(proc, f"hydra.sweep.dir={sweep_dir}: this folder holds another")
    assert "changed x interval(0,1) -> interval(0,0.5)" in last
    assert "added y" in last and "removed cat" in last
    assert "{" not in last  # the keys, not both definitions
    assert (sweep_dir / "multirun.yaml").read_bytes() == multirun  # a refused run writes nothing
    assert leaderboard(sweep_dir) == rows and not (sweep_dir / "2").exists()
    assert run_sweep(sweep_dir, *first).returncode == 0  # the same settings still resume


def test_hyperopt_says_the_direction_changed(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ("x=interval(0,1)", "hydra.sweeper.n_trials=1")
    assert run_sweep(sweep_dir, *args, sweeper="hyperopt").returncode == 0
    multirun = (sweep_dir / "multirun.yaml").read_bytes()
    proc = run_sweep(sweep_dir, *args, "hydra.sweeper.direction=minimize", sweeper="hyperopt")
    last = _assert_one_line_error(proc, "direction maximize -> minimize")
    assert "search space" not in last
    assert (sweep_dir / "multirun.yaml").read_bytes() == multirun
