"""The Hyperopt sweeper: minimising, and resuming from its trials file after a kill (the
killed trial is interrupted, and its configuration runs again)."""

from __future__ import annotations

import json
import signal

from tests.fixtures_sweep.runner import (
    best,
    explain,
    kill_during_trial,
    leaderboard,
    run_sweep,
    start_sweep,
)

ARGS = (
    "x=interval(0,1)",
    "cat=a,b,c",
    "hydra.sweeper.n_trials=5",
    "hydra.sweeper.seed=11",
    "hydra.sweeper.direction=minimize",
    "sleep_s=0.15",
)


def test_hyperopt_resume_after_kill_and_minimize(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = start_sweep(sweep_dir, *ARGS, sweeper="hyperopt")
    kill_during_trial(proc, sweep_dir, 2)
    assert proc.returncode == -signal.SIGKILL
    saved = json.loads((sweep_dir / "hyperopt_trials.json").read_text())
    assert [d["tid"] for d in saved["trials"]] == [0, 1, 2]  # trial 2 was saved before it ran

    proc = run_sweep(sweep_dir, *ARGS, sweeper="hyperopt")
    assert proc.returncode == 0, explain(proc)
    rows = leaderboard(sweep_dir)
    states = [r["state"] for r in rows]
    assert states == ["COMPLETE", "COMPLETE", "INTERRUPTED", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert rows[2]["error"].startswith("stale:")
    assert (rows[3]["x"], rows[3]["cat"]) == (rows[2]["x"], rows[2]["cat"])  # run again
    assert all((sweep_dir / str(n)).is_dir() for n in range(6))
    counted = [r for r in rows if r["state"] != "INTERRUPTED"]  # n_trials=5 of them
    assert len({(r["x"], r["cat"]) for r in counted}) == 5
    values = [float(r["value"]) for r in rows if r["state"] == "COMPLETE"]
    assert best(sweep_dir)["value"] == min(values)
    saved = json.loads((sweep_dir / "hyperopt_trials.json").read_text())
    done = [d["result"] for d in saved["trials"] if d["result"]["status"] == "ok"]
    assert [r["loss"] for r in done] == [r["value"] for r in done]  # minimised: loss = value
