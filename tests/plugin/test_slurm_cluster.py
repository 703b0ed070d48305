"""Sweeps through ``hydra/launcher=slurm`` on a real one-node SLURM cluster started by the tests.

``scripts/slurm_test_cluster.sh`` brings up munged, slurmctld and slurmd on 127.0.0.1 with their
state in a temporary folder and accounting disabled (no ``sacct``), the setting in which a
cancelled job used to leave the sweep waiting forever. Where that cannot be done (not root,
SLURM not installed) the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from hydra_plugins.emotion_lab_sweeper._optuna_sweeper import INTERRUPTED_ATTR, RERUN_ATTR
from hydra_plugins.emotion_lab_sweeper._slurm_launcher import ACTIVE_STATES, RECORDS_DIR, SlurmQueue
from tests.fixtures_sweep.runner import REPO, explain, run_sweep, start_sweep

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "slurm_test_cluster.sh"
SLURM = (
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=null",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.poll_s=0.5",
    "hydra.launcher.lost_after_s=2",
    "hydra.sweeper.pruner=none",
    "hydra.sweeper.n_jobs=2",
    "x=interval(0,1)",
)


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[None]:
    """A running test cluster; ``SLURM_CONF`` points every command and sweep at it."""
    if os.geteuid() != 0:
        pytest.skip("the SLURM test cluster needs root (slurmd starts jobs as their users)")
    missing = [c for c in ("munged", "slurmctld", "slurmd", "sbatch") if shutil.which(c) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing): slurm-wlm, munge")
    state = Path(tempfile.mkdtemp(prefix="emotion-lab-slurm-"))
    up = subprocess.run(
        ["bash", str(SCRIPT), "up", str(state)], capture_output=True, text=True, timeout=120
    )
    if up.returncode != 0:
        shutil.rmtree(state, ignore_errors=True)
        lines = (up.stderr or up.stdout).strip().splitlines() or ["no output"]
        pytest.skip(f"the SLURM test cluster did not start: {lines[0]}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLURM_CONF", str(state / "slurm.conf"))
        try:
            yield
        finally:
            subprocess.run(["scancel", "--user", str(os.geteuid())], capture_output=True)
            _wait_until(lambda: not _queue_ids(), 60)
            subprocess.run(["bash", str(SCRIPT), "down", str(state)], capture_output=True)
            shutil.rmtree(state, ignore_errors=True)


def _queue_ids() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
    return out.stdout.split()


def _wait_until(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _job_id(sweep_dir: Path, number: int) -> str | None:
    try:
        return json.loads((sweep_dir / RECORDS_DIR / f"{number}.json").read_text())["job_id"]
    except (OSError, ValueError):
        return None


def _running(sweep_dir: Path, number: int) -> str:
    """SLURM job id of trial ``number`` once its job runs the trial; fails after two minutes."""

    def started() -> bool:
        job = _job_id(sweep_dir, number)
        return bool(job) and (sweep_dir / str(number)).is_dir() and _state(job) == "RUNNING"

    assert _wait_until(started, 120), f"trial {number} never ran as a SLURM job"
    job = _job_id(sweep_dir, number)
    assert job is not None
    return job


def _submitted(sweep_dir: Path, number: int) -> str:
    assert _wait_until(lambda: _job_id(sweep_dir, number) is not None, 120), "never submitted"
    job = _job_id(sweep_dir, number)
    assert job is not None
    return job


def _state(job_id: str | None) -> str:
    return SlurmQueue().state(job_id) if job_id else "NONE"


def _trials(sweep_dir: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    return optuna.load_study(study_name=name, storage=storage).trials


def _hydra_job_id(sweep_dir: Path, number: int) -> str:
    import yaml

    cfg = yaml.safe_load((sweep_dir / str(number) / ".hydra" / "hydra.yaml").read_text())
    return str(cfg["hydra"]["job"]["id"])


def test_sweep_through_slurm_runs_every_trial_as_a_job(slurm_cluster: None, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "slurm"
    proc = run_sweep(
        sweep_dir, *SLURM, "hydra.sweeper.n_trials=4", "hydra.sweeper.study_name=s", timeout=300
    )
    assert proc.returncode == 0, explain(proc)
    trials = _trials(sweep_dir, "s")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    jobs = [_job_id(sweep_dir, t.number) for t in trials]
    assert None not in jobs and len(set(jobs)) == 4  # one sbatch job per trial
    assert [_hydra_job_id(sweep_dir, t.number) for t in trials] == jobs  # ran under SLURM
    assert all(len(t.intermediate_values) == 3 for t in trials)  # reported from the node


def test_ddp_trial_runs_as_slurm_tasks(slurm_cluster: None, tmp_path: Path) -> None:
    """tasks_per_node=2: SLURM starts both ranks and Lightning joins them instead of spawning."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("two SLURM tasks need two cores")
    sweep_dir = tmp_path / "ddp"
    proc = run_sweep(
        sweep_dir,
        *SLURM,
        "hydra.launcher.tasks_per_node=2",
        "mode=lightning",
        "ddp=true",
        "epochs=2",
        "x=interval(0.01,0.1)",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.study_name=ddp",
        timeout=300,
    )
    assert proc.returncode == 0, explain(proc)  # rank 0 asserts a world size of 2
    (trial,) = _trials(sweep_dir, "ddp")
    assert trial.state.name == "COMPLETE" and len(trial.intermediate_values) == 2
    job = _job_id(sweep_dir, 0)
    rank1 = sweep_dir / ".submitit" / str(job) / f"{job}_1_log.err"
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in rank1.read_text()


def test_cancelled_job_fails_its_trial_and_the_study_resumes(
    slurm_cluster: None, tmp_path: Path
) -> None:
    sweep_dir = tmp_path / "cancel"
    args = (*SLURM, "hydra.sweeper.study_name=c", "slow_trials=[1]", "sleep_s=1")
    proc = start_sweep(sweep_dir, *args, "hydra.sweeper.n_trials=4")
    try:
        job = _running(sweep_dir, 1)
        subprocess.run(["scancel", job], check=True)
        out = proc.communicate(timeout=300)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-4000:]  # 1 of 4 failed: within the failure budget
    trials = _trials(sweep_dir, "c")
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    error = trials[1].user_attrs["error"]
    assert error.startswith(f"RuntimeError: SLURM job {job} ended without a result")
    # why it ended: squeue's state, or the last line the job's log holds (slurmstepd writes
    # CANCELLED there, unless srun reports the killed task first)
    assert "CANCELLED" in error or "Killed" in error, error

    resumed = run_sweep(sweep_dir, *args, "hydra.sweeper.n_trials=5", timeout=300)
    assert resumed.returncode == 0, explain(resumed)
    trials = _trials(sweep_dir, "c")
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"] + [
        "COMPLETE"
    ]
    assert _job_id(sweep_dir, 1) == job  # the failed trial was not run again


@pytest.mark.parametrize("on_resume", ["reattach", "cancel"])
def test_resume_after_kill_asks_slurm_about_running_jobs(
    slurm_cluster: None, tmp_path: Path, on_resume: str
) -> None:
    sweep_dir = tmp_path / on_resume
    args = (
        *SLURM,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.study_name=k",
        "slow_trials=[0,1]",  # 27 s each: they outlive the kill and the resume's start
        "sleep_s=1.5",
    )
    proc = start_sweep(sweep_dir, *args)
    try:
        before = {0: _running(sweep_dir, 0), 1: _submitted(sweep_dir, 1)}  # 1 may be queued
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    states = [_state(job) for job in before.values()]
    assert set(states) <= ACTIVE_STATES, states  # kill -9 left the jobs running
    resumed = run_sweep(sweep_dir, *args, f"hydra.launcher.on_resume={on_resume}", timeout=300)
    assert resumed.returncode == 0, explain(resumed)
    trials = _trials(sweep_dir, "k")
    counted = [t for t in trials if INTERRUPTED_ATTR not in t.user_attrs]
    assert len(counted) == 4 and {t.state.name for t in counted} == {"COMPLETE"}  # n_trials
    assert {n: _job_id(sweep_dir, n) for n in (0, 1)} == before  # no job submitted twice
    if on_resume == "reattach":  # the running jobs' results were kept
        assert [t.number for t in trials] == [0, 1, 2, 3]
        assert [_hydra_job_id(sweep_dir, n) for n in (0, 1)] == [before[0], before[1]]
        assert (resumed.stdout + resumed.stderr).count("re-attaching") == 2
    else:  # the jobs were cancelled; their configurations ran again as new trials
        assert [t.state.name for t in trials[:2]] == ["FAIL", "FAIL"]
        assert all(t.user_attrs[INTERRUPTED_ATTR].startswith("stale:") for t in trials[:2])
        assert sorted(t.user_attrs.get(RERUN_ATTR, -1) for t in trials[2:])[-2:] == [0, 1]
        assert _wait_until(lambda: not any(_state(j) in ACTIVE_STATES for j in before.values()), 60)


def test_interrupted_sweep_cancels_its_jobs(slurm_cluster: None, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "stop"
    args = (*SLURM, "hydra.sweeper.n_trials=4", "hydra.sweeper.study_name=t", "sleep_s=20")
    proc = start_sweep(sweep_dir, *args)
    try:
        jobs = [_running(sweep_dir, n) for n in (0, 1)]
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "cancelling SLURM job(s)" in out, out[-3000:]
    assert _wait_until(lambda: not any(_state(j) in ACTIVE_STATES for j in jobs), 60)
