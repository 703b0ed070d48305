"""Hyperopt's state is stored as data: the trials' documents as JSON, rebuilt into a ``Trials``
on resume; a pickled ``Trials`` of an earlier version is read only when the user trusts it."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import pickle
from pathlib import Path
from typing import Any

import pytest
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, hp, tpe
from hyperopt.base import JOB_STATE_DONE, JOB_STATE_RUNNING, Domain

from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._hyperopt_sweeper import (
    DEFINITION_KEY,
    PICKLED_TRIALS_FILE,
    TRIALS_FILE,
    read_pickled_trials,
    read_trials,
    write_trials,
)
from tests.fixtures_sweep.runner import explain, leaderboard, run_sweep

NODES = {
    "x": hp.uniform("x", 0, 1),
    "cat": hp.choice("cat", ["a", "b", "c"]),
    "n": hp.quniform("n", -0.5, 3.5, 1),
}
ARGS = ("x=interval(0,1)", "cat=a,b,c", "hydra.sweeper.seed=3", "sleep_s=0")


class Payload:
    """Pickled into a trials file: unpickling it creates ``marker`` (as any code could run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def _trials(n: int, running: int = 0) -> Trials:
    """``n`` finished trials proposed by TPE as the sweeper proposes them, then ``running``."""
    domain, trials = Domain(lambda _: 0.0, NODES), Trials()
    trials.attachments[DEFINITION_KEY] = {"space": {"params": {"x": "interval(0,1)"}}}
    for i in range(n + running):
        (tid,) = trials.new_trial_ids(1)
        trials.refresh()
        (doc,) = tpe.suggest([tid], domain, trials, 100 + i)
        doc["state"], doc["book_time"] = JOB_STATE_RUNNING, dt.datetime.now(dt.timezone.utc)
        trials.insert_trial_docs([doc])
        trials.refresh()
        if i >= n:
            continue
        doc = trials.trials[-1]
        ok = i % 4 != 3
        doc["result"] = (
            {"status": STATUS_OK, "loss": -0.1 * i, "value": 0.1 * i, "samples": [0.1, 0.2]}
            if ok
            else {"status": STATUS_FAIL, "error": "boom", "interrupted": "SIGTERM"}
        )
        doc["state"], doc["refresh_time"] = JOB_STATE_DONE, dt.datetime.now(dt.timezone.utc)
        trials.refresh()
    return trials


def test_trials_round_trip_through_json(tmp_path: Path) -> None:
    trials = _trials(12, running=1)
    path = tmp_path / TRIALS_FILE
    write_trials(path, trials)
    data = json.loads(path.read_text())  # plain JSON: no pickle, no Python objects
    assert data["trials"][0]["book_time"] == trials.trials[0]["book_time"].isoformat()

    back = read_trials(path)
    assert back.attachments[DEFINITION_KEY] == trials.attachments[DEFINITION_KEY]
    assert back.tids == trials.tids and len(back._ids) == len(trials._ids)
    for old, new in zip(trials.trials, back.trials, strict=True):
        assert (new["state"], new["result"], new["misc"]["tid"]) == (
            old["state"],
            old["result"],
            old["misc"]["tid"],
        )
        assert new["misc"]["vals"] == {
            k: [float(v) for v in vs] for k, vs in old["misc"]["vals"].items()
        }
        assert new["misc"]["idxs"] == {
            k: [int(v) for v in vs] for k, vs in old["misc"]["idxs"].items()
        }
        assert new["book_time"] == old["book_time"] and isinstance(new["book_time"], dt.datetime)
    # TPE continues the same way from the rebuilt trials as from the ones in memory
    domain = Domain(lambda _: 0.0, NODES)
    (tid,) = trials.new_trial_ids(1)
    assert back.new_trial_ids(1) == [tid]
    mine, theirs = (tpe.suggest([tid], domain, t, 7)[0]["misc"]["vals"] for t in (trials, back))
    assert mine == theirs


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not a readable Hyperopt trials file"),
        ('{"format": "other"}', "not a Hyperopt trials file of this plugin"),
        ('{"format": "emotion_lab_sweeper hyperopt trials", "version": 9}', "version 9"),
        (
            '{"format": "emotion_lab_sweeper hyperopt trials", "version": 1, "trials": [{}]}',
            "trial document 0 is not valid (no tid, spec",
        ),
        (
            '{"format": "emotion_lab_sweeper hyperopt trials", "version": 1, "trials": 3}',
            "its 'trials' is not a list",
        ),
    ],
)
def test_a_bad_trials_file_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / TRIALS_FILE
    path.write_text(text)
    with pytest.raises(SweepConfigError) as info:
        read_trials(path)
    assert str(info.value).startswith(f"{path}: ") and says in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("tid", "0", "tid '0' is not the integer of its misc"),
        ("state", 99, "state not a known one"),
        ("book_time", "yesterday", "has book_time 'yesterday', not an ISO time"),
        ("misc", {"tid": 0}, "its misc lacks one of"),
    ],
)
def test_a_bad_trial_document_is_one_line(
    tmp_path: Path, field: str, value: Any, says: str
) -> None:
    path = tmp_path / TRIALS_FILE
    write_trials(path, _trials(2))
    data = json.loads(path.read_text())
    data["trials"][1][field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(SweepConfigError) as info:
        read_trials(path)
    assert str(info.value).startswith(f"{path}: trial document 1 ") and says in str(info.value)


def test_a_pickled_trials_file_is_read_only_when_trusted(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    path = tmp_path / PICKLED_TRIALS_FILE
    path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(SweepConfigError, match="written by an older version") as info:
        read_pickled_trials(path, trusted=False)
    assert str(info.value).startswith(f"{path}: ") and "trust_pickles=true" in str(info.value)
    assert not marker.exists()
    legacy = tmp_path / "legacy.pkl"
    legacy.write_bytes(pickle.dumps(_trials(3)))
    assert read_pickled_trials(legacy, trusted=True).tids == [0, 1, 2]


def test_a_sweep_refuses_a_pickled_payload_in_its_folder(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    marker = tmp_path / "ran.txt"
    (sweep_dir / PICKLED_TRIALS_FILE).write_bytes(pickle.dumps(Payload(marker)))
    proc = run_sweep(sweep_dir, *ARGS, "hydra.sweeper.n_trials=2", sweeper="hyperopt")
    assert proc.returncode == 2, explain(proc)
    assert "Traceback" not in proc.stderr, explain(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {sweep_dir / PICKLED_TRIALS_FILE}: this sweep folder was "), (
        last
    )
    assert "hydra.sweeper.trust_pickles=true" in last
    assert not marker.exists(), "the sweep unpickled its folder's trials"
    assert not (sweep_dir / "0").exists()  # no trial ran


def test_a_trusted_folder_of_an_earlier_version_resumes_as_json(tmp_path: Path) -> None:
    """A folder whose trials an earlier version pickled: refused, then resumed when trusted,
    its trials kept as JSON from then on."""
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(sweep_dir, *ARGS, "hydra.sweeper.n_trials=2", sweeper="hyperopt")
    assert proc.returncode == 0, explain(proc)
    json_file = sweep_dir / TRIALS_FILE
    (sweep_dir / PICKLED_TRIALS_FILE).write_bytes(pickle.dumps(read_trials(json_file)))
    json_file.unlink()  # the folder as the earlier version left it

    again = run_sweep(sweep_dir, *ARGS, "hydra.sweeper.n_trials=3", sweeper="hyperopt")
    assert again.returncode == 2 and "trust_pickles" in again.stderr, explain(again)
    trusted = (*ARGS, "hydra.sweeper.n_trials=3", "hydra.sweeper.trust_pickles=true")
    again = run_sweep(sweep_dir, *trusted, sweeper="hyperopt")
    assert again.returncode == 0, explain(again)
    assert [r["state"] for r in leaderboard(sweep_dir)] == ["COMPLETE"] * 3
    assert [d["tid"] for d in json.loads(json_file.read_text())["trials"]] == [0, 1, 2]
    last = run_sweep(sweep_dir, *ARGS, "hydra.sweeper.n_trials=4", sweeper="hyperopt")
    assert last.returncode == 0, explain(last)  # JSON now: no trust needed
    assert len(leaderboard(sweep_dir)) == 4
