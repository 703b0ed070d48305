"""The process launcher's children: plain local programs on the GPUs the parent was given."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from hydra_plugins.emotion_lab_sweeper import _process_launcher as process_launcher
from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._process_launcher import (
    DevicePool,
    ProcessLauncherImpl,
    local_job_env,
    visible_gpus,
)

# What a job step of `sbatch --ntasks=2` plus a torchrun parent leave in the environment.
ALLOCATION_ENV = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "sweep",
    "SLURM_NTASKS": "2",
    "SLURM_PROCID": "1",
    "SLURM_LOCALID": "1",
    "SLURM_NODEID": "0",
    "SLURM_NODELIST": "gpu-node-1",
    "SLURM_NTASKS_PER_NODE": "2",
    "SBATCH_PARTITION": "gpu",
    "TORCHELASTIC_RUN_ID": "abc",
    "LOCAL_RANK": "1",
    "RANK": "1",
    "WORLD_SIZE": "2",
    "MASTER_ADDR": "gpu-node-1",
    "MASTER_PORT": "29500",
    "PMI_RANK": "1",
}

_DETECT = (
    "from lightning.fabric.plugins.environments import "
    "LightningEnvironment, SLURMEnvironment, TorchElasticEnvironment as T;"
    "print(SLURMEnvironment.detect(), T.detect(), LightningEnvironment().creates_processes_externally)"
)


def test_job_env_drops_cluster_and_rank_variables() -> None:
    parent = {**ALLOCATION_ENV, "PATH": "/usr/bin", "HOME": "/home/u", "SLURMISH": "keep"}
    assert local_job_env(parent) == {"PATH": "/usr/bin", "HOME": "/home/u", "SLURMISH": "keep"}


@pytest.mark.parametrize(
    ("clean", "expected"), [(False, "True True True"), (True, "False False False")]
)
def test_lightning_sees_a_plain_local_process_in_the_job_env(
    clean: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ALLOCATION_ENV.items():
        monkeypatch.setenv(key, value)
    import os

    env = local_job_env(os.environ) if clean else dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-c", _DETECT], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[-3:] == expected.split()


def test_gpu_list_indexes_the_parents_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    assert visible_gpus([0, 2]) == ["4", "6"]
    assert visible_gpus("auto") == ["4", "5", "6"]
    assert visible_gpus("none") == []


@pytest.mark.parametrize(
    ("gpus", "message"),
    [
        ([0, 3], "hydra.launcher.gpus: index 3 is out of range, this process sees 3 GPU(s)"),
        ([-1], "index -1 is out of range"),
        ([1, 1], "hydra.launcher.gpus: index 1 is listed twice"),
        (["4"], "hydra.launcher.gpus: entries index the GPUs"),
        ("all", "hydra.launcher.gpus: expected 'auto', 'none' or a list"),
    ],
)
def test_bad_gpu_lists_name_the_key(
    gpus: Any, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    with pytest.raises(SweepConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        visible_gpus(gpus)


def test_no_gpu_seen_makes_any_index_out_of_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(SweepConfigError, match="sees 0 GPU"):
        visible_gpus([0])


class _FakePopen:
    """Records the environment a job process would get, and exits at once without a result."""

    envs: list[dict[str, str]] = []

    def __init__(self, cmd: list[str], *, stdin: Any, env: dict[str, str]) -> None:
        self.envs.append(env)
        self.stdin = open("/dev/null", "wb")  # noqa: SIM115 - closed by the launcher

    def wait(self, timeout: float | None = None) -> int:
        return 1


def test_children_get_the_mapped_gpus_and_no_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ALLOCATION_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    monkeypatch.setattr(process_launcher.subprocess, "Popen", _FakePopen)
    _FakePopen.envs = []
    launcher = ProcessLauncherImpl(gpus=[0, 2], gpus_per_job=1, cpus_per_job=2)
    launcher._pool = DevicePool(visible_gpus(launcher.gpus), launcher.gpus_per_job)
    first, second = launcher._pool.acquire(), launcher._pool.acquire()
    for devices in (first, second):
        ret = launcher._run_process(b"", ["x=1"], devices)
        assert "exited with code 1" in str(ret._return_value)
    assert [env["CUDA_VISIBLE_DEVICES"] for env in _FakePopen.envs] == ["4", "6"]
    for env in _FakePopen.envs:
        assert not any(k.startswith("SLURM_") or k in ALLOCATION_ENV for k in env)
        assert env["OMP_NUM_THREADS"] == "2"


def test_auto_cpus_share_the_cores_between_the_jobs_in_flight(monkeypatch) -> None:
    from hydra_plugins.emotion_lab_sweeper._process_launcher import cpu_share

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert cpu_share(4) == 4 and cpu_share(None) == 16 and cpu_share(32) == 1
    assert ProcessLauncherImpl(cpus_per_job="auto", jobs_in_flight=8).cpus_per_job == 2
    assert ProcessLauncherImpl(cpus_per_job=None).cpus_per_job is None  # untouched on request
    with pytest.raises(SweepConfigError, match="hydra.launcher.cpus_per_job"):
        ProcessLauncherImpl(cpus_per_job="many")


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"cpus_per_job": 0}, "hydra.launcher.cpus_per_job must be >= 1, auto or null, got 0"),
        ({"cpus_per_job": 1.5}, "hydra.launcher.cpus_per_job must be >= 1, auto or null, got 1.5"),
        ({"worker_max_jobs": "abc"}, "hydra.launcher.worker_max_jobs must be >= 1 or null"),
        ({"worker_max_jobs": True}, "hydra.launcher.worker_max_jobs must be >= 1 or null"),
        ({"worker_max_rss_gb": "-2"}, "hydra.launcher.worker_max_rss_gb must be > 0 or null"),
        ({"timeout_min": float("inf")}, "hydra.launcher.timeout_min must be > 0"),
        ({"jobs_in_flight": "x"}, "hydra.launcher.jobs_in_flight must be >= 1 or null"),
        ({"gpus_per_job": -1}, "hydra.launcher.gpus_per_job must be a whole number >= 0"),
        ({"warm": "yes"}, "hydra.launcher.warm must be true or false"),
    ],
)
def test_bad_launcher_settings_are_user_errors_naming_the_key(keys: dict, named: str) -> None:
    with pytest.raises(SweepConfigError) as caught:
        ProcessLauncherImpl(**keys)
    assert str(caught.value).startswith(named)


def test_numeric_launcher_settings_given_as_text_are_read_as_numbers() -> None:
    launcher = ProcessLauncherImpl(cpus_per_job="auto", worker_max_jobs="3", timeout_min="0.5")
    assert (launcher.worker_max_jobs, launcher.timeout_s) == (3, 30.0)
    assert ProcessLauncherImpl(cpus_per_job=2.0, worker_max_rss_gb=1).cpus_per_job == 2
