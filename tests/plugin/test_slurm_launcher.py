"""How the SLURM launcher decides that a job is over, without a cluster (a scripted queue)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._slurm_launcher import (
    GONE,
    UNREACHABLE,
    JobRecord,
    SlurmLauncherImpl,
    parse_squeue,
)


class ScriptedQueue:
    """squeue answers in order (the last one repeats), an optional sacct state, scancel log."""

    def __init__(self, states: list[str], accounting: str | None = None) -> None:
        self.states = list(states)
        self.accounting = accounting
        self.cancelled: list[str] = []
        self.asked = 0

    def state(self, job_id: str) -> str:
        self.asked += 1
        assert self.asked < 10_000, "the launcher is still waiting on a job that is over"
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def accounting_state(self, job_id: str) -> str | None:
        return self.accounting

    def cancel(self, job_ids: list[str]) -> None:
        self.cancelled.extend(job_ids)


def _launcher(tmp_path: Path, queue: ScriptedQueue, **kwargs: object) -> SlurmLauncherImpl:
    launcher = SlurmLauncherImpl(
        queue=queue,  # type: ignore[arg-type]
        poll_s=0.001,
        lost_after_s=kwargs.pop("lost_after_s", 0.0),  # type: ignore[arg-type]
        submitit_folder=str(tmp_path / ".submitit" / "%j"),
        **kwargs,
    )
    launcher.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    return launcher


def _record(tmp_path: Path, job_id: str = "17", pid: int = 1) -> JobRecord:
    return JobRecord(3, job_id, str(tmp_path / ".submitit" / "%j"), ["x=1"], "host", pid)


def _write_result(record: JobRecord, outcome: str, value: object) -> None:
    from submitit.core.utils import cloudpickle_dump

    record.result_path().parent.mkdir(parents=True, exist_ok=True)
    cloudpickle_dump((outcome, value), record.result_path())


@pytest.mark.parametrize(
    ("rc", "out", "err", "state"),
    [
        (0, "RUNNING\n", "", "RUNNING"),
        (0, "cancelled\n", "", "CANCELLED"),
        (0, "", "", GONE),
        (1, "", "slurm_load_jobs error: Invalid job id specified", GONE),
        (1, "", "slurm_load_jobs error: Unable to contact slurm controller", UNREACHABLE),
    ],
)
def test_squeue_answers(rc: int, out: str, err: str, state: str) -> None:
    assert parse_squeue(rc, out, err) == state


@pytest.mark.parametrize(
    ("states", "accounting", "reason"),
    [
        (["PENDING", "RUNNING", GONE], None, "(state unknown: no accounting)"),
        (["RUNNING", GONE], "CANCELLED by 0", "(CANCELLED"),
        (["RUNNING", "OUT_OF_MEMORY"], None, "(OUT_OF_MEMORY)"),
        (["RUNNING", "TIMEOUT"], None, "(TIMEOUT)"),
    ],
)
def test_a_job_that_leaves_the_queue_without_a_result_fails(
    tmp_path: Path, states: list[str], accounting: str | None, reason: str
) -> None:
    queue = ScriptedQueue(states, accounting)
    launcher = _launcher(tmp_path, queue)
    (ret,) = launcher._wait([_record(tmp_path)])
    assert ret.status is JobStatus.FAILED
    message = str(ret._return_value)
    assert message.startswith("SLURM job 17 ended without a result " + reason)
    assert "no log at" in message  # the job never started, so there is no log to quote


def test_a_result_written_just_after_the_job_left_the_queue_is_kept(tmp_path: Path) -> None:
    queue = ScriptedQueue(["RUNNING", GONE])
    launcher = _launcher(tmp_path, queue, lost_after_s=3600.0)
    record = _record(tmp_path)
    done = JobReturn(overrides=["x=1"], status=JobStatus.COMPLETED)
    done.return_value = 0.75

    original = queue.state

    def state_then_write(job_id: str) -> str:
        answer = original(job_id)
        if answer == GONE:
            _write_result(record, "success", done)  # late on a shared file system
        return answer

    queue.state = state_then_write  # type: ignore[method-assign]
    (ret,) = launcher._wait([record])
    assert ret.status is JobStatus.COMPLETED and ret.return_value == 0.75


def test_an_unreachable_controller_does_not_fail_the_job(tmp_path: Path) -> None:
    record = _record(tmp_path)
    queue = ScriptedQueue([UNREACHABLE] * 5 + ["RUNNING"])
    launcher = _launcher(tmp_path, queue)
    original = queue.state

    def state(job_id: str) -> str:
        if queue.asked == 6:
            _write_result(record, "error", "Traceback ...\nValueError: boom")
        return original(job_id)

    queue.state = state  # type: ignore[method-assign]
    (ret,) = launcher._wait([record])
    assert str(ret._return_value) == "SLURM job 17 failed: ValueError: boom"
    assert ret._return_value.trial_traceback.startswith("Traceback")


@pytest.mark.parametrize(
    ("on_resume", "state", "reattachable", "cancelled"),
    [
        ("reattach", "RUNNING", True, []),
        ("reattach", GONE, False, []),
        ("cancel", "PENDING", False, ["17"]),
        ("cancel", "COMPLETED", False, []),
    ],
)
def test_resume_asks_slurm_about_a_dead_sweeps_job(
    tmp_path: Path, on_resume: str, state: str, reattachable: bool, cancelled: list[str]
) -> None:
    queue = ScriptedQueue([state])
    launcher = _launcher(tmp_path, queue, on_resume=on_resume)
    record = _record(tmp_path)
    launcher._save(record)
    assert launcher.reattachable(3) is reattachable
    assert launcher.reattachable(4) is False  # no job recorded for job 4
    assert queue.cancelled == cancelled
    if reattachable:  # launching job 3 again waits on the running job instead of submitting
        again = launcher._reattach(3, ["x=1"])
        assert again is not None and again.job_id == "17" and launcher._reattach(3, ["x=2"]) is None


def test_a_finished_job_of_a_dead_sweep_is_collected_even_with_cancel(tmp_path: Path) -> None:
    queue = ScriptedQueue([GONE])
    launcher = _launcher(tmp_path, queue, on_resume="cancel")
    record = _record(tmp_path)
    launcher._save(record)
    _write_result(record, "success", JobReturn(overrides=["x=1"], status=JobStatus.COMPLETED))
    assert launcher.reattachable(3) is True and queue.cancelled == []


def test_cancel_all_cancels_the_jobs_being_waited_for(tmp_path: Path) -> None:
    queue = ScriptedQueue(["RUNNING"])
    launcher = _launcher(tmp_path, queue)
    record = _record(tmp_path)
    launcher._live[record.job_id] = record
    launcher.cancel_all("test")
    assert queue.cancelled == ["17"]
    (ret,) = launcher._wait([record])  # the wait ends at once, as failed
    assert "cancelled: the sweep stopped" in str(ret._return_value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("on_resume", "keep", "hydra.launcher.on_resume: 'keep' is not one of"),
        ("poll_s", 0, "hydra.launcher.poll_s must be > 0"),
        ("lost_after_s", -1, "hydra.launcher.lost_after_s must be >= 0"),
    ],
)
def test_bad_settings_name_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(SweepConfigError, match=message):
        SlurmLauncherImpl(**{key: value}, submitit_folder="x")


def test_slurm_yaml_builds_our_launcher() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    conf = Path(__file__).resolve().parents[2] / "tests" / "fixtures_sweep" / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(
            "app",
            overrides=["hydra/launcher=slurm", "hydra.launcher.on_resume=cancel"],
            return_hydra_config=True,
        )
    node = cfg.hydra.launcher
    assert (node.poll_s, node.lost_after_s, node.on_resume) == (10.0, 60.0, "cancel")
    assert node.gpus_per_node == 1 and node.qos is None  # submitit's keys are all there
    launcher = instantiate(node)
    assert type(launcher.impl) is SlurmLauncherImpl and launcher.impl.on_resume == "cancel"
