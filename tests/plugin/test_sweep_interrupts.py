"""Stopping a sweep: Ctrl-C, SIGTERM and kill -9 stop every job; trials in flight are
interrupted (not failed), reports are refreshed, and a resume runs their configurations again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from hydra_plugins.emotion_lab_sweeper._job_process import (
    child_pids,
    descendant_pids,
    is_job_process,
)
from hydra_plugins.emotion_lab_sweeper._optuna_sweeper import OptunaSweeperImpl
from hydra_plugins.emotion_lab_sweeper._report import TrialRecord
from tests.fixtures_sweep.runner import (
    REPO,
    best,
    explain,
    leaderboard,
    run_sweep,
    sweep_command,
    sweep_env,
)

# trial 0 ends in ~1 s of work; trials 1 and 2 run six times longer, so they are in flight
SLOW = ("x=interval(0,1)", "hydra.sweeper.pruner=none", "sleep_s=0.4", "epochs=3")
SLOW_TRIALS = "slow_trials=[1,2,3]"


def _start(*args: str, new_session: bool = True) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        cwd=REPO,
        env=sweep_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=new_session,
    )


def _wait_for(predicate, proc: subprocess.Popen[str], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.stdout else ""
            proc.kill()
            raise AssertionError(f"{what} never happened:\n{out[-3000:]}")
        time.sleep(0.05)


def _jobs_of(pid: int) -> list[int]:
    return [p for p in descendant_pids(pid) if is_job_process(p)]


def _wait_gone(pids: list[int], timeout: float = 15) -> float:
    """Seconds until every pid has exited (raises if some are still alive after ``timeout``)."""
    start = time.monotonic()
    while any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in pids):
        assert time.monotonic() - start < timeout, f"jobs {pids} still alive"
        time.sleep(0.02)
    return time.monotonic() - start


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


@pytest.mark.slow
def test_ctrl_c_interrupts_trials_refreshes_reports_and_resume_reruns_them(tmp_path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = (*SLOW, SLOW_TRIALS, "hydra/launcher=process", "hydra.sweeper.n_jobs=2")
    args = (*args, "hydra.sweeper.n_trials=4", "hydra.sweeper.seed=3")
    proc = _start(*sweep_command(sweep_dir, *args))
    _wait_for(lambda: (sweep_dir / "2").is_dir() and len(_jobs_of(proc.pid)) == 2, proc, "trial 2")
    jobs = _jobs_of(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:]
    assert "sweep interrupted by SIGINT" in out
    print(f"jobs gone {_wait_gone(jobs):.2f} s after the sweep exited")
    rows = leaderboard(sweep_dir)
    assert [r["state"] for r in rows] == ["COMPLETE", "INTERRUPTED", "INTERRUPTED"], out[-3000:]
    assert all("SIGINT" in r["error"] for r in rows[1:])
    assert best(sweep_dir)["trial"] == 0  # refreshed after the interruption

    proc2 = run_sweep(sweep_dir, *args, timeout=180)
    assert proc2.returncode == 0, explain(proc2)
    rows2 = leaderboard(sweep_dir)
    reruns = [r for r in rows2 if int(r["number"]) >= 3][:2]
    assert {r["x"] for r in reruns} == {rows[1]["x"], rows[2]["x"]}  # their configurations
    counted = [r for r in rows2 if r["state"] != "INTERRUPTED"]
    assert len(counted) == 4 and all(r["state"] == "COMPLETE" for r in counted)


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]


def _trial_children(sweep_pid: int) -> list[int]:
    """The ``child_s`` processes the trials of a sweep started (grandchildren of its jobs)."""
    jobs = set(_jobs_of(sweep_pid))
    return [p for p in descendant_pids(sweep_pid) if p not in jobs and "time.sleep" in _cmdline(p)]


@pytest.mark.slow
@pytest.mark.parametrize("warm", ["true", "false"])
def test_sigterm_to_the_sweep_alone_stops_its_jobs_and_a_rerun_resumes(tmp_path, warm) -> None:
    """A scheduler or ``kill`` signals only the sweep process: it must stop the jobs itself,
    with the processes the trials started, and record the trials as interrupted."""
    sweep_dir = tmp_path / "sweep"
    args = (*SLOW, "slow_trials=[0,1]", "hydra/launcher=process", "hydra.sweeper.n_jobs=2")
    args = (*args, f"hydra.launcher.warm={warm}", "hydra.sweeper.n_trials=2", "child_s=120")
    proc = _start(*sweep_command(sweep_dir, *args, sweeper="hyperopt"))
    _wait_for(lambda: len(_trial_children(proc.pid)) == 2, proc, "both trials")
    everything = descendant_pids(proc.pid)  # jobs (workers) and the trials' own processes
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:]
    _wait_gone(everything)
    rows = leaderboard(sweep_dir)
    assert [r["state"] for r in rows] == ["INTERRUPTED", "INTERRUPTED"], out[-3000:]
    assert all("SIGTERM" in r["error"] for r in rows)

    again = run_sweep(sweep_dir, *args, sweeper="hyperopt", timeout=180)
    assert again.returncode == 0, explain(again)
    rows2 = leaderboard(sweep_dir)
    reruns = [r for r in rows2 if r["state"] != "INTERRUPTED"]
    assert [r["state"] for r in reruns] == ["COMPLETE", "COMPLETE"], explain(again)
    assert {r["x"] for r in reruns} == {r["x"] for r in rows}  # their configurations again


@pytest.mark.slow
@pytest.mark.parametrize("warm", ["true", "false"])
def test_jobs_of_a_killed_sweep_exit_at_once(tmp_path, warm) -> None:
    """kill -9 of the sweep: its jobs (warm workers or job processes) notice they are orphans
    and stop, with the processes their trials started."""
    sweep_dir = tmp_path / "sweep"
    args = (*SLOW, "slow_trials=[0,1]", "hydra/launcher=process", "hydra.sweeper.n_jobs=2")
    args = (*args, f"hydra.launcher.warm={warm}", "hydra.sweeper.n_trials=2", "child_s=120")
    proc = _start(*sweep_command(sweep_dir, *args))
    _wait_for(lambda: len(_trial_children(proc.pid)) == 2, proc, "both trials")
    everything = descendant_pids(proc.pid)
    assert len(_jobs_of(proc.pid)) == 2
    killed = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    _wait_gone(everything)
    print(f"orphaned jobs exited {time.monotonic() - killed:.2f} s after kill -9 of the sweep")


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "process"])
def test_make_sweep_workers_all_stop_on_one_ctrl_c(tmp_path, launcher) -> None:
    """``make sweep WORKERS=2``: Ctrl-C reaches the launcher, which stops both sweep processes,
    their warm workers and every trial, all recorded as interrupted in the shared study."""
    sweep_dir = tmp_path / "sweep"
    per_sweep = 2 if launcher == "process" else 1  # trials in flight in each sweep process
    jobs = ["hydra/launcher=process", "hydra.sweeper.n_jobs=2"] if launcher == "process" else []
    worker = sweep_command(
        sweep_dir, *SLOW, "slow_trials=[0,1,2,3]", "hydra.sweeper.n_trials=8", *jobs
    )
    command = [
        sys.executable,
        "-m",
        "hydra_plugins.emotion_lab_sweeper.workers",
        "2",
        "--",
        *worker,
    ]
    proc = _start(*command)
    in_flight = 2 * per_sweep

    def started() -> bool:
        return (sweep_dir / str(in_flight - 1)).is_dir()

    _wait_for(started, proc, f"{in_flight} trials")
    time.sleep(1.5)
    sweeps = [p for p in child_pids(proc.pid) if "tests.fixtures_sweep.app" in _cmdline(p)]
    assert len(sweeps) == 2
    everything = descendant_pids(proc.pid)
    if launcher == "process":
        assert all(len(_jobs_of(p)) == per_sweep for p in sweeps)  # the warm workers
    proc.send_signal(signal.SIGINT)  # sweeps run in their own groups: only the launcher gets it
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:]
    _wait_gone(everything)
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert len(trials) == in_flight, out[-3000:]
    assert all("SIGINT" in t.user_attrs.get("interrupted", "") for t in trials), out[-3000:]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("states", "stops"),
    [
        (["FAIL"], False),  # one failure among fewer than 3 finished trials: go on
        (["FAIL", "FAIL"], False),
        (["FAIL", "FAIL", "COMPLETE"], True),  # 2 of 3 > 0.5
        (["INTERRUPTED"] * 5 + ["FAIL", "COMPLETE", "COMPLETE"], False),  # 1 of 3
    ],
)
def test_failure_budget_ignores_interrupted_and_waits_for_three_trials(states, stops) -> None:
    sweeper = OptunaSweeperImpl(max_failure_rate=0.5)
    records = [TrialRecord(number=i, state=s, params={}) for i, s in enumerate(states)]
    sweeper.check_failures(records)
    assert sweeper.stopping is stops
