"""Warm workers: one process per slot runs job after job, and is replaced when it must be."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.callbacks import Callbacks
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext

from hydra_plugins.emotion_lab_sweeper._job_process import is_job_process
from hydra_plugins.emotion_lab_sweeper._job_return import JobInterrupted
from hydra_plugins.emotion_lab_sweeper._process_launcher import ProcessLauncherImpl

Launch = Callable[..., list[JobReturn]]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``launch(task, [overrides...], **launcher_keys)``: run jobs through a warm launcher."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "app.yaml").write_text("a: 0\n")
    launchers: list[ProcessLauncherImpl] = []
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("app", [f"hydra.sweep.dir={tmp_path / 'sweep'}"], return_hydra_config=True)
        context = HydraContext(
            config_loader=GlobalHydra.instance().config_loader(), callbacks=Callbacks()
        )

        def make(task: Callable[[Any], Any], **keys: Any) -> ProcessLauncherImpl:
            launcher = ProcessLauncherImpl(**{"gpus": "none", "cpus_per_job": 1, **keys})
            launcher.setup(hydra_context=context, task_function=task, config=cfg)
            launchers.append(launcher)
            return launcher

        yield make
    for launcher in launchers:
        launcher.close()
    GlobalHydra.instance().clear()


def run_each(launcher: ProcessLauncherImpl, values: list[int]) -> list[JobReturn]:
    """One job per value, one after another (so they share one worker while it lives)."""
    return [launcher.launch([[f"a={v}"]], initial_job_idx=i)[0] for i, v in enumerate(values)]


def _pid_unless(crash: int) -> Callable[[Any], int]:
    def task(cfg: Any) -> int:
        if cfg.a == crash:
            os._exit(3)
        if cfg.a == -crash:
            os.kill(os.getpid(), signal.SIGSEGV)
        return os.getpid()

    return task


def test_a_worker_runs_job_after_job_and_a_crash_fails_only_its_job(launch) -> None:
    first, second, crashed, after = run_each(launch(_pid_unless(7)), [0, 1, 7, 2])
    assert first.status == second.status == after.status == JobStatus.COMPLETED
    assert first.return_value == second.return_value  # the same warm process
    assert crashed.status == JobStatus.FAILED
    assert "exited with code 3" in str(crashed._return_value)
    assert after.return_value != first.return_value  # a fresh worker replaced the dead one
    assert after.cfg.a == 2 and after.hydra_cfg.hydra.job.num == 3


def test_a_segfault_is_named_and_the_slot_goes_on(launch) -> None:
    crashed, after = run_each(launch(_pid_unless(7)), [-7, 1])
    assert "SIGSEGV" in str(crashed._return_value)
    assert after.status == JobStatus.COMPLETED


def test_workers_are_replaced_after_n_jobs_or_above_the_memory_limit(launch) -> None:
    pids = [r.return_value for r in run_each(launch(_pid_unless(99), worker_max_jobs=2), [0] * 4)]
    assert pids[0] == pids[1] != pids[2] == pids[3]
    # any Python process is above 1 MB: every job gets a fresh worker
    small = launch(_pid_unless(99), worker_max_rss_gb=0.001)
    pids = [r.return_value for r in run_each(small, [0] * 3)]
    assert len(set(pids)) == 3
    assert all("resident memory" in why for _, why in small._warm.replaced)


def _leaky(cfg: Any) -> dict[str, Any]:
    seen = {k: os.environ.get(k) for k in ("MASTER_PORT", "LOCAL_RANK")}
    os.environ["MASTER_PORT"] = "29511"  # what Lightning's DDP leaves behind
    os.environ["LOCAL_RANK"] = "0"
    os.chdir("/")
    return {"seen": seen, "cwd": os.getcwd(), "pid": os.getpid()}


def test_what_a_job_changes_in_the_process_is_put_back_for_the_next(launch) -> None:
    first, second = (r.return_value for r in run_each(launch(_leaky), [0, 1]))
    assert first["pid"] == second["pid"]
    assert second["seen"] == {"MASTER_PORT": None, "LOCAL_RANK": None}


def _env(cfg: Any) -> dict[str, str]:
    time.sleep(0.5)  # both jobs in flight at once, so they need two slots
    return dict(os.environ)


def test_each_gpu_slot_has_its_own_worker_environment(launch, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("MASTER_PORT", "29500")
    launcher = launch(_env, gpus=[0, 2], gpus_per_job=1, cpus_per_job=2)
    envs = [r.return_value for r in launcher.launch([["a=1"], ["a=2"]], initial_job_idx=0)]
    assert sorted(env["CUDA_VISIBLE_DEVICES"] for env in envs) == ["4", "6"]
    for env in envs:
        assert "SLURM_JOB_ID" not in env and "MASTER_PORT" not in env
        assert env["OMP_NUM_THREADS"] == "2"


def _sleepy(cfg: Any) -> int:
    from hydra.core.hydra_config import HydraConfig

    (Path(HydraConfig.get().runtime.output_dir) / "started").touch()
    time.sleep(60)
    return 0


def test_a_stop_signal_interrupts_the_jobs_and_ends_every_worker(launch) -> None:
    """Ctrl-C reaches the whole process group: here each worker gets it, as in a terminal."""
    launcher = launch(_sleepy)
    results: list[JobReturn] = []
    thread = threading.Thread(
        target=lambda: results.extend(launcher.launch([["a=1"], ["a=2"]], initial_job_idx=0))
    )
    thread.start()
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    deadline = time.monotonic() + 60
    while not all((sweep_dir / str(n) / "started").exists() for n in (0, 1)):
        assert time.monotonic() < deadline, "the jobs never started"
        time.sleep(0.05)
    workers = launcher._warm.pids()  # (other tests' launchers may still have workers)
    assert len(workers) == 2 and all(is_job_process(p) for p in workers)
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    thread.join(timeout=60)
    assert [r.status for r in results] == [JobStatus.FAILED] * 2
    assert all(isinstance(r._return_value, JobInterrupted) for r in results)
    assert all("SIGINT" in str(r._return_value) for r in results)
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{p}").exists() for p in workers):
        assert time.monotonic() < deadline, "interrupted workers are still alive"
        time.sleep(0.05)
    assert launcher._warm.pids() == []  # no replacement started while the sweep stops


def _spawner(cfg: Any) -> dict[str, int]:
    import subprocess

    child = subprocess.Popen(["sleep", "60"])  # a helper the job forgot to stop
    return {"pid": os.getpid(), "child": child.pid}


def test_processes_a_job_leaves_behind_are_stopped_before_the_next_job(launch) -> None:
    first, second = (r.return_value for r in run_each(launch(_spawner), [0, 1]))
    assert first["pid"] == second["pid"]
    assert not Path(f"/proc/{first['child']}").exists()


def _process_group(cfg: Any) -> int:
    import socket

    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    return os.getpid()  # left initialised, as Lightning's DDP leaves it after fit


def test_a_job_that_leaves_a_process_group_gets_a_fresh_worker_after_it(launch) -> None:
    launcher = launch(_process_group)
    first, second = (r.return_value for r in run_each(launcher, [0, 1]))
    assert first != second
    assert "torch.distributed" in launcher._warm.replaced[0][1]


def _slow_first(cfg: Any) -> int:
    if cfg.a == 0:
        time.sleep(60)
    return os.getpid()


def test_a_job_past_the_timeout_is_killed_with_its_worker(launch) -> None:
    slow, after = run_each(launch(_slow_first, timeout_min=0.05), [0, 1])  # 3 s
    assert slow.status == JobStatus.FAILED
    assert isinstance(slow._return_value, TimeoutError)
    assert after.status == JobStatus.COMPLETED


def test_an_idle_worker_exits_and_a_later_job_gets_a_fresh_one(launch) -> None:
    launcher = launch(_pid_unless(99))
    launcher._warm.idle_exit_s = 0.3  # a sweep that ended inside a longer-lived process
    (first,) = run_each(launcher, [0])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{first.return_value}").exists():
        assert time.monotonic() < deadline, "the idle worker did not exit"
        time.sleep(0.05)
    (later,) = run_each(launcher, [1])
    assert later.status == JobStatus.COMPLETED and later.return_value != first.return_value


def _wandb_run(root: str) -> Callable[[Any], str]:
    """A job that logs one offline W&B run, as every training trial does."""

    def task(cfg: Any) -> str:
        import wandb

        run = wandb.init(
            mode="offline", dir=root, project="warm", settings=wandb.Settings(silent=True)
        )
        run.log({"a": cfg.a})
        run.finish()
        return f"{os.getpid()}:{run.id}"

    return task


@pytest.mark.parametrize("warm", [True, False])
def test_consecutive_jobs_each_log_a_wandb_run(launch, tmp_path, monkeypatch, warm) -> None:
    """W&B keeps a service process per interpreter; a job's end must close it as a process exit
    would, not leave the next job a killed service (it failed with MailboxClosedError)."""
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "wandb-data"))
    rets = run_each(launch(_wandb_run(str(tmp_path)), warm=warm), [0, 1, 2])
    assert [r.status for r in rets] == [JobStatus.COMPLETED] * 3, [r._return_value for r in rets]
    pids, ids = zip(*(r.return_value.split(":") for r in rets), strict=True)
    assert len(set(pids)) == (1 if warm else 3) and len(set(ids)) == 3
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 3
