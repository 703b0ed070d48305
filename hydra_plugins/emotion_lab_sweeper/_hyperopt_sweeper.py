"""Hydra sweeper driven by Hyperopt (``hydra/sweeper=hyperopt``): TPE or random search.

Hyperopt only minimises, so a maximised objective is stored as its negation (``loss``) while
reports show the value itself. Trials run in batches of ``n_jobs``: within a batch the proposals
see the batch's pending trials as failures (Hyperopt's own behaviour), so they spread out. The
trials' documents are written to the sweep folder as JSON after every trial
(``hyperopt_trials.json``, data only: a sweep folder from elsewhere runs no code when read);
re-running the command rebuilds the ``Trials`` from them and resumes. Sharing one ``Trials``
between sweep processes would need MongoDB (out of scope), so a lock keeps a second process out
of the same folder. Earlier versions pickled the ``Trials`` (``hyperopt_trials.pkl``); such a
folder is resumed only with ``hydra.sweeper.trust_pickles=true``, and then stored as JSON.

A trial stopped by a signal (or left running by a sweep that died) is recorded as interrupted:
it uses up neither the failure budget nor ``n_trials``, and the resumed sweep runs its
configuration again as a new trial.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import json
import logging
import math
import os
import pickle
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hyperopt
from hydra.utils import get_method, instantiate
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, hp
from hyperopt.base import (
    JOB_STATE_DONE,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_VALID_STATES,
    TRIAL_KEYS,
    TRIAL_MISC_KEYS,
    Domain,
    InvalidTrial,
)

from hydra_plugins.emotion_lab_sweeper._base import SweeperBase, file_lock, seed_for
from hydra_plugins.emotion_lab_sweeper._config import HyperoptSweeperConf
from hydra_plugins.emotion_lab_sweeper._errors import SweepConfigError
from hydra_plugins.emotion_lab_sweeper._files import write_text
from hydra_plugins.emotion_lab_sweeper._jobs import JobOutcome, launch_one
from hydra_plugins.emotion_lab_sweeper._report import (
    COMPLETE,
    FAIL,
    INTERRUPTED,
    RUNNING,
    TrialRecord,
)
from hydra_plugins.emotion_lab_sweeper._space import Dimension, Kind, SearchSpace, describe_changes

log = logging.getLogger(__name__)
logging.getLogger("hyperopt").setLevel(logging.WARNING)

TRIALS_FILE = "hyperopt_trials.json"
PICKLED_TRIALS_FILE = "hyperopt_trials.pkl"  # what versions before the JSON file wrote
TRIALS_FORMAT = "emotion_lab_sweeper hyperopt trials"
TRIALS_VERSION = 1
DEFINITION_KEY = "emotion_lab.definition"  # the study's definition, in Trials.attachments
_TIMES = ("book_time", "refresh_time")  # datetimes in a trial's document: ISO text in the file
LOCK_FILE = ".hyperopt.lock"
INTERRUPTED_KEY = "interrupted"  # in a trial's result: why it was interrupted
REQUEUED_KEY = "requeued"  # in an interrupted trial's result: its configuration ran again

Decoder = Callable[[Any], Any]


def to_hyperopt(dim: Dimension) -> tuple[Any, Decoder]:
    """The ``hp.*`` node for ``dim`` and how to turn its raw draw into the parameter value.

    Discrete numeric dimensions are searched through their index so that TPE keeps their order
    (``hp.choice`` would treat 1, 2, 3 as unrelated labels).
    """
    name = dim.name
    if dim.kind is Kind.CATEGORICAL:
        return hp.choice(name, list(dim.choices)), lambda raw: raw
    assert dim.low is not None and dim.high is not None
    n = dim.n_steps
    if n is not None:  # range(): index 0..n-1, each with equal mass
        node = hp.quniform(name, -0.5, n - 0.5, 1)
        return node, lambda raw: dim.value_at(min(max(int(round(raw)), 0), n - 1))
    if dim.kind is Kind.INT:
        low, high = int(dim.low), int(dim.high)

        def as_int(raw: Any) -> int:
            return min(max(int(round(raw)), low), high)

        if dim.log:
            node = hp.qloguniform(name, math.log(low - 0.5), math.log(high + 0.5), 1)
        else:
            node = hp.quniform(name, low - 0.5, high + 0.5, 1)
        return node, as_int
    if dim.log:
        return hp.loguniform(name, math.log(dim.low), math.log(dim.high)), float
    return hp.uniform(name, float(dim.low), float(dim.high)), float


def hyperopt_loss(value: float, direction: str) -> float:
    """Hyperopt minimises ``loss``: a maximised objective is negated."""
    return -value if direction == "maximize" else value


def to_hyperopt_space(space: SearchSpace) -> tuple[dict[str, Any], dict[str, Decoder]]:
    nodes, decoders = {}, {}
    for dim in space.dimensions:
        nodes[dim.name], decoders[dim.name] = to_hyperopt(dim)
    return nodes, decoders


class HyperoptSweeperImpl(SweeperBase):
    """Hyperopt TPE (default) or random search, in batches of ``n_jobs``."""

    kind = "hyperopt"

    def __init__(
        self,
        *,
        pruner: str = "none",
        baseline: bool = False,
        trust_pickles: bool = False,
        **kwargs: Any,
    ) -> None:
        storage = kwargs.pop("storage", None)
        if storage is not None:
            raise SweepConfigError(
                "hydra.sweeper.storage: Hyperopt keeps its trials in the sweep folder "
                f"({TRIALS_FILE}); a shared storage would need MongoDB, which is out of scope"
            )
        kwargs.setdefault("samplers", HyperoptSweeperConf().samplers)
        super().__init__(pruner=pruner, **kwargs)
        if not isinstance(trust_pickles, bool):
            raise SweepConfigError(
                f"hydra.sweeper.trust_pickles: expected true or false, got {trust_pickles!r}"
            )
        self.trust_pickles = trust_pickles
        self.algo = self._algo()
        if self.pruner != "none":
            log.warning(f"hydra.sweeper.pruner={self.pruner}: Hyperopt cannot prune; ignored")
        if baseline:
            log.warning("hydra.sweeper.baseline: Hyperopt does not enqueue a baseline; ignored")
        self._lock = threading.Lock()

    def _algo(self) -> Callable[..., Any]:
        """The suggest function of the sampler node, its options bound (``_partial_``)."""
        node = dict(self.sampler_node)
        if "n_startup_trials" in node:  # Optuna's name for it, so one study file serves both
            node["n_startup_jobs"] = node.pop("n_startup_trials")
        target = str(node.get("_target_"))
        try:
            accepted = inspect.signature(get_method(target)).parameters
        except Exception as exc:
            raise SweepConfigError(
                f"hydra.sweeper.sampler: cannot import {target!r} ({exc})"
            ) from None
        unknown = sorted(set(node) - {"_target_", "_partial_"} - set(accepted))
        if unknown:
            raise SweepConfigError(f"hydra.sweeper.sampler_kwargs: {target} takes no {unknown}")
        return instantiate({**node, "_partial_": True})

    def sweep(self, arguments: list[str]) -> list[TrialRecord]:
        space = self.parse_space(arguments)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.sweep_dir / LOCK_FILE, blocking=False) as locked:
            if not locked:
                raise SweepConfigError(
                    f"another Hyperopt sweep is running in {self.sweep_dir}: Hyperopt's trials "
                    "cannot be shared between processes without MongoDB (out of scope); use "
                    "hydra/sweeper=optuna for several workers"
                )
            self.claim_sweep_dir(space)
            run = _Run(self, space)  # refuses a stored study with another definition
            self.prepare_sweep_dir()
            with self.interruptible():
                records = run.execute()
                self.finish(records)
        return records


class _Run:
    def __init__(self, sweeper: HyperoptSweeperImpl, space: SearchSpace) -> None:
        self.sw = sweeper
        self.space = space
        self.nodes, self.decoders = to_hyperopt_space(space)
        self.domain = Domain(lambda _: 0.0, self.nodes)  # objective unused: jobs run via Hydra
        self.algo = sweeper.algo
        self.path = sweeper.sweep_dir / TRIALS_FILE
        self.trials = self._load()

    # -- persistence ---------------------------------------------------------------------
    def _load(self) -> Trials:
        definition = {"space": self.space.describe(), "direction": self.sw.direction}
        pickled = self.path.with_name(PICKLED_TRIALS_FILE)
        if self.path.exists():
            trials, source = read_trials(self.path), self.path
        elif pickled.exists():
            trials, source = read_pickled_trials(pickled, self.sw.trust_pickles), pickled
        else:
            trials = Trials()
            trials.attachments[DEFINITION_KEY] = definition
            return trials
        stored = trials.attachments.get(DEFINITION_KEY)
        changes = describe_changes(stored, definition) if stored is not None else ""
        if changes:
            raise SweepConfigError(
                f"{source}: this folder holds a Hyperopt study with other settings "
                f"({changes}); choose another hydra.sweep.dir for a new study"
            )
        stale = _close_running(trials, "stale: the sweep process died while it ran")
        if stale:
            log.warning(f"{stale} trial(s) left running by a previous sweep marked interrupted")
        if stale or source == pickled:
            self._save(trials)
        if source == pickled:
            log.warning(f"{pickled}: trusted and read; its trials are now kept in {self.path}")
        return trials

    def _save(self, trials: Trials | None = None) -> None:
        write_trials(self.path, self.trials if trials is None else trials)  # empty is falsy

    # -- the loop ------------------------------------------------------------------------
    def execute(self) -> list[TrialRecord]:
        log.info(
            f"hyperopt study '{self.sw.resolved_study_name}' in {self.path}: "
            f"{len(self.trials.trials)} trials so far, budget {self.sw.n_trials}, "
            f"sampler {self.sw.sampler}, n_jobs {self.sw.n_jobs}"
        )
        reruns = self._requeue_interrupted()
        try:
            while not self.sw.stopping:
                # requeued reruns are already in the trials (as running) but still to run
                remaining = self.sw.n_trials - self._counted_trials() + len(reruns)
                if remaining <= 0:
                    break
                k = min(self.sw.n_jobs, remaining)
                docs = reruns[:k] + self._propose(k - len(reruns[:k]))
                reruns = reruns[k:]
                self._save()
                if len(docs) == 1:
                    self._evaluate(docs[0])  # main thread: in-process jobs may set handlers
                    continue
                self._evaluate_batch(docs)
        except KeyboardInterrupt:
            self.sw.note_interrupt()
        if self.sw.interrupted is not None:
            with self.sw._lock:
                _close_running(self.trials, f"interrupted by {self.sw.interrupted}")
                self._save()
        return self.records()

    def _evaluate_batch(self, docs: list[dict[str, Any]]) -> None:
        pool = ThreadPoolExecutor(max_workers=len(docs))
        futures = [pool.submit(self._evaluate, doc) for doc in docs]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            self.sw.note_interrupt()
            self.sw.stop_jobs()  # the workers then record their trials as interrupted
        finally:
            pool.shutdown(wait=True)

    def _counted_trials(self) -> int:
        """Trials that use up ``n_trials``: all but the interrupted ones."""
        return sum(
            1 for doc in self.trials.trials if INTERRUPTED_KEY not in (doc.get("result") or {})
        )

    def _requeue_interrupted(self) -> list[dict[str, Any]]:
        """A new trial with the same parameters for every interrupted trial not yet re-run."""
        reruns = []
        for doc in list(self.trials.trials):
            result = doc.get("result") or {}
            if INTERRUPTED_KEY not in result or result.get(REQUEUED_KEY):
                continue
            (tid,) = self.trials.new_trial_ids(1)
            misc = copy.deepcopy(doc["misc"])
            misc["tid"] = tid
            misc["idxs"] = {k: [tid] if v else [] for k, v in misc["idxs"].items()}
            (new,) = self.trials.new_trial_docs([tid], [None], [{"status": "new"}], [misc])
            new["state"] = JOB_STATE_RUNNING
            new["book_time"] = _now()
            self.trials.insert_trial_docs([new])
            result[REQUEUED_KEY] = int(tid)
            self.trials.refresh()
            reruns.append(next(d for d in self.trials.trials if d["tid"] == tid))
            log.info(f"trial {doc['tid']} was interrupted: its configuration runs again as {tid}")
        return reruns

    def _propose(self, k: int) -> list[dict[str, Any]]:
        docs = []
        for _ in range(k):  # one at a time: TPE answers a single id per call
            (tid,) = self.trials.new_trial_ids(1)
            self.trials.refresh()
            seed = seed_for(self.sw.seed, tid)
            if seed is None:
                seed = int.from_bytes(os.urandom(4), "little")
            (doc,) = self.algo([tid], self.domain, self.trials, seed)
            doc["state"] = JOB_STATE_RUNNING
            doc["book_time"] = _now()
            self.trials.insert_trial_docs([doc])
            self.trials.refresh()
            docs.append(next(d for d in self.trials.trials if d["tid"] == tid))
        return docs

    def params_of(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
        raw = hyperopt.space_eval(self.nodes, vals)
        return {name: self.decoders[name](raw[name]) for name in self.nodes}

    def _evaluate(self, doc: dict[str, Any]) -> None:
        tid = int(doc["tid"])
        params = self.params_of(doc)
        twin = self._duplicate_of(params, tid)
        if twin is not None:
            log.info(f"trial {tid} repeats trial {twin['tid']}: reusing its value")
            result = dict(twin["result"], duplicate_of=int(twin["tid"]), duration_s=0.0)
            result.pop("run_dir", None)
            self._finish(doc, result)
            return
        overrides = self.sw.trial_overrides(self.space, params, tid, None)
        try:
            outcome = launch_one(self.sw.launcher, overrides, tid)
        except BaseException as exc:  # Ctrl-C in this thread (Lightning makes it SystemExit)
            if self.sw.interrupted is None and not isinstance(exc, KeyboardInterrupt):
                raise
            self.sw.note_interrupt()
            reason = f"interrupted by {self.sw.interrupted}"
            self._finish(doc, {"status": STATUS_FAIL, "error": reason, INTERRUPTED_KEY: reason})
            return
        self._finish(doc, self._result(tid, outcome))

    def _result(self, tid: int, outcome: JobOutcome) -> dict[str, Any]:
        base = {"duration_s": round(outcome.duration_s, 3), "run_dir": outcome.run_dir}
        if outcome.interrupted or (self.sw.interrupted is not None and outcome.error is not None):
            reason = outcome.error or f"interrupted by {self.sw.interrupted}"
            log.warning(f"trial {tid} interrupted: {reason}")
            return {"status": STATUS_FAIL, "error": reason[:2000], INTERRUPTED_KEY: reason, **base}
        if outcome.error is not None:
            self.sw.log_failure(tid, outcome.error, outcome.traceback)
            return {"status": STATUS_FAIL, "error": outcome.error[:2000], **base}
        assert outcome.value is not None
        log.info(f"trial {tid} finished: {outcome.value:.6g}")
        loss = hyperopt_loss(outcome.value, self.sw.direction)
        if outcome.samples:
            base["samples"] = list(outcome.samples)
        if outcome.ci95 is not None:
            base["ci95"] = list(outcome.ci95)
        return {"status": STATUS_OK, "loss": loss, "value": outcome.value, **base}

    def _finish(self, doc: dict[str, Any], result: dict[str, Any]) -> None:
        with self.sw._lock:
            doc["result"] = result
            doc["state"] = JOB_STATE_DONE
            doc["refresh_time"] = _now()
            self.trials.refresh()
            self._save()
            records = self.records()
            self.sw.write_reports(records)
            self.sw.check_failures(records)

    def _duplicate_of(self, params: Mapping[str, Any], tid: int) -> dict[str, Any] | None:
        for doc in self.trials.trials:
            done = doc["tid"] != tid and doc["result"].get("status") == STATUS_OK
            if done and self.params_of(doc) == params:
                return doc
        return None

    def records(self) -> list[TrialRecord]:
        out = []
        for doc in self.trials.trials:
            result = doc.get("result") or {}
            status = result.get("status")
            state = COMPLETE if status == STATUS_OK else FAIL if status == STATUS_FAIL else RUNNING
            if INTERRUPTED_KEY in result:
                state = INTERRUPTED
            params = self.params_of(doc)
            out.append(
                TrialRecord(
                    number=int(doc["tid"]),
                    state=state,
                    params=params,
                    value=result.get("value"),
                    duration_s=result.get("duration_s"),
                    run_dir=result.get("run_dir"),
                    error=result.get("error"),
                    duplicate_of=result.get("duplicate_of"),
                    overrides=self.space.overrides(params),
                    samples=result.get("samples"),
                    ci95=result.get("ci95"),
                )
            )
        return out


def write_trials(path: Path, trials: Trials) -> None:
    """Write every document of ``trials`` and the study's definition to ``path`` as JSON,
    atomically (durable: the history of the study)."""
    data = {
        "format": TRIALS_FORMAT,
        "version": TRIALS_VERSION,
        "definition": trials.attachments.get(DEFINITION_KEY),
        "trials": list(trials.trials),  # every document Hyperopt sees, in the order inserted
    }
    text = json.dumps(data, indent=1, allow_nan=True, default=_json_value)
    write_text(path, text + "\n", durable=True)


def _json_value(value: Any) -> Any:
    """The JSON form of what a trial's document holds besides plain values."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # a numpy number (Hyperopt's draws)
        return value.item()
    raise TypeError(f"a Hyperopt trial holds {type(value).__name__}, which JSON cannot")


def read_trials(path: Path) -> Trials:
    """The ``Trials`` written by :func:`write_trials` (the documents rebuilt through
    ``insert_trial_docs`` and ``refresh``); a file that is not one is one line naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SweepConfigError(f"{path}: not a readable Hyperopt trials file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != TRIALS_FORMAT:
        raise SweepConfigError(f"{path}: not a Hyperopt trials file of this plugin")
    if data.get("version") != TRIALS_VERSION:
        raise SweepConfigError(
            f"{path}: Hyperopt trials file version {data.get('version')!r}; this plugin reads "
            f"version {TRIALS_VERSION}"
        )
    docs = data.get("trials")
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise SweepConfigError(f"{path}: its 'trials' is not a list of trial documents")
    trials = Trials()
    if data.get("definition") is not None:
        trials.attachments[DEFINITION_KEY] = data["definition"]
    for i, doc in enumerate(docs):
        problem = _trial_problem(doc)
        if problem:
            raise SweepConfigError(f"{path}: trial document {i} is not valid ({problem})")
        for key in _TIMES:
            if isinstance(doc[key], str):
                try:
                    doc[key] = dt.datetime.fromisoformat(doc[key])
                except ValueError:
                    raise SweepConfigError(
                        f"{path}: trial document {i} has {key} {doc[key]!r}, not an ISO time"
                    ) from None
        if isinstance(doc["misc"]["cmd"], list):
            doc["misc"]["cmd"] = tuple(doc["misc"]["cmd"])  # as Hyperopt makes it
    try:
        trials.insert_trial_docs(docs)
    except InvalidTrial as exc:
        raise SweepConfigError(f"{path}: a trial document is not valid ({exc.args[0]})") from None
    trials.refresh()
    return trials


def _trial_problem(doc: Mapping[str, Any]) -> str:
    """What makes ``doc`` no trial document of this sweeper ('' when nothing)."""
    missing = [k for k in TRIAL_KEYS if k not in doc]
    if missing:
        return f"no {', '.join(missing)}"
    misc = doc["misc"]
    if not isinstance(misc, dict) or any(k not in misc for k in TRIAL_MISC_KEYS):
        return f"its misc lacks one of {', '.join(TRIAL_MISC_KEYS)}"
    if not isinstance(doc["tid"], int) or misc["tid"] != doc["tid"]:
        return f"tid {doc['tid']!r} is not the integer of its misc"
    if not isinstance(doc["result"], dict) or doc["state"] not in JOB_VALID_STATES:
        return "its result is not a mapping or its state not a known one"
    for key in ("idxs", "vals"):
        values = misc[key]
        if not isinstance(values, dict) or not all(isinstance(v, list) for v in values.values()):
            return f"its misc {key} is not a mapping of lists"
    return ""


def read_pickled_trials(path: Path, trusted: bool) -> Trials:
    """The ``Trials`` an earlier version pickled; read only when the user ``trusted`` the
    folder, since reading a pickle can run any code it names."""
    if not trusted:
        raise SweepConfigError(
            f"{path}: this sweep folder was written by an older version of the plugin, which "
            "pickled Hyperopt's trials; a pickle can run code when read, so it is not read: "
            "resume with hydra.sweeper.trust_pickles=true if you trust this folder (its "
            f"trials are then kept as {TRIALS_FILE}), or choose another hydra.sweep.dir"
        )
    with path.open("rb") as fh:
        trials = pickle.load(fh)  # noqa: S301 - the user trusts this folder (trust_pickles)
    if not isinstance(trials, Trials):
        raise SweepConfigError(f"{path}: holds a {type(trials).__name__}, not Hyperopt's Trials")
    return trials


def _close_running(trials: Trials, reason: str) -> int:
    """Record every trial still new or running as interrupted; returns how many."""
    closed = 0
    for doc in trials.trials:
        if doc["state"] in (JOB_STATE_NEW, JOB_STATE_RUNNING):
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"status": STATUS_FAIL, "error": reason, INTERRUPTED_KEY: reason}
            doc["refresh_time"] = _now()
            closed += 1
    trials.refresh()
    return closed


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
