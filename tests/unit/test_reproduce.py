"""``python -m emotion_lab.reproduce``: claim sets, plans, verdicts on hand-made run folders,
resume, missing data sets and bad input, without training anything (a fake runner stands in
for the training commands)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from emotion_lab import reproduce as cmd
from emotion_lab.comparison import claims
from emotion_lab.comparison.stats import paired_difference, t_interval
from emotion_lab.errors import ConfigError, UserError
from emotion_lab.run.records import write_run_record

REPO = Path(__file__).resolve().parents[2]
CLAIM_SETS = cmd.known_claim_sets()


def make_run(
    folder: Path,
    seed: int,
    metrics: dict[str, float],
    fold: int | None = None,
    logged: Sequence[dict[str, float]] = (),
) -> Path:
    """A run folder as the run plan leaves it: config, overrides, test record, metrics.csv."""
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    config = {"seed": seed, "data": {"name": "synthetic", "fold": fold}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"seed={seed}"]))
    if logged:
        columns = sorted({k for row in logged for k in row})
        lines = [",".join(columns)]
        lines += [",".join(str(row.get(c, "")) for c in columns) for row in logged]
        (folder / "csv").mkdir(exist_ok=True)
        (folder / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
    write_run_record(folder, metrics=metrics, objective=0.0, seed=seed, fold=fold)
    return folder


def _compose(*overrides: str, tmp: Path) -> Any:
    return cmd.compose_reproduce(
        [*overrides, f"out_dir={tmp / 'out'}", f"paths.data_dir={tmp / 'data'}"]
    )


def _console() -> Console:
    return Console(width=240, record=True, force_terminal=False)


# --------------------------------------------------------------------------- the claim sets


def test_the_issue_s_claim_sets_are_there() -> None:
    assert set(CLAIM_SETS) >= {
        "s000/table3",
        "s000/margin",
        "s000/lambda",
        "s001/table5",
        "s002/table4",
        "s003/main",
        "s004/table3",
        "s004/ablation",
    }


@pytest.mark.parametrize("name", CLAIM_SETS)
def test_every_claim_set_composes_and_plans(name: str, tmp_path: Path) -> None:
    """Full scale: each setting composes as its runs will, trains on the paper's data set (the
    plan checks it), and names its missing data set; smoke: the same plan on generated data."""
    cfg = _compose(f"claims={name}", "plan_only=true", tmp=tmp_path)
    assert cfg.claims.name == name  # the file's own name is its path
    plan = cmd.make_plan(cfg)
    assert plan.claim_set.name == name and plan.settings
    assert len(plan.claim_set.seeds) >= 2  # an interval needs two seeds
    for p in plan.settings:
        assert p.epochs and p.epochs >= 1
        assert p.data == p.setting.data
        assert p.data_missing and str(tmp_path / "data") in p.data_missing
        assert p.todo == plan.claim_set.seeds
        assert p.setting.paper or any(
            p.label in (c.better, c.worse) for c in plan.claim_set.comparisons
        ), f"{p.label} tests nothing"
    for claim in plan.claim_set.claims:
        assert claim.source and math.isfinite(claim.value)
        if claim.metric.startswith("test/") and claim.metric != "test/loss":
            assert 0.0 <= claim.value <= 1.0, claim  # fractions, as our metrics are
    smoke = cmd.make_plan(_compose(f"claims={name}", "scale=smoke", tmp=tmp_path))
    for p in smoke.settings:
        assert p.data == "synthetic" and p.data_missing is None and p.epochs == 1
        assert "model.pretrained=true" not in p.overrides
        assert p.folds in (None, 2)


def test_s000_table3_holds_the_paper_s_beta_rows(tmp_path: Path) -> None:
    cs = claims.claim_set_from_config(_compose("claims=s000/table3", tmp=tmp_path).claims)
    assert cs.experiment == "s000_webemo"
    assert [s.overrides[0] for s in cs.settings] == [
        "loss.beta=0",
        "loss.beta=0.1",
        "loss.beta=0.3",
        "loss.beta=0.4",
        "loss.beta=0.5",
        "loss.beta=0.8",
        "loss.beta=1.0",
    ]
    assert cs.setting("beta_0").paper == {
        "test/acc": 0.8214,
        "test/ari": 0.0987,
        "test/nmi": 0.1884,
        "test/asr_kmeans": 0.8797,
    }
    assert cs.setting("beta_1.0").source == "Table 3, row β = 1.0"
    first = cs.comparisons[0]
    assert (first.better, first.worse, first.metric, first.direction) == (
        "beta_1.0",
        "beta_0",
        "test/acc",
        "higher",
    )
    assert first.paper_delta == pytest.approx(0.8287 - 0.8214)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "comparisons": [
                    {"better": "a", "worse": "z", "metric": "test/acc", "direction": "higher"}
                ]
            },
            "worse='z': no such setting",
        ),
        (
            {
                "comparisons": [
                    {"better": "a", "worse": "b", "metric": "test/acc", "direction": "up"}
                ]
            },
            "direction must be one of",
        ),
        ({"settings": [{"label": "a"}, {"label": "a"}]}, "used twice"),
        ({"settings": [{"label": "a/b"}]}, "claims.settings[0].label"),
        ({"settings": [{"label": "a", "overrides": ["seed=1"]}]}, "belongs elsewhere"),
        ({"settings": [{"label": "a", "paper": {"accuracy": 0.5}}]}, "is not a metric"),
        ({"settings": [{"label": "a", "paper": {"test/acc": "high"}}]}, "must be a number"),
        ({"seeds": 0}, "claims.seeds must be a count"),
    ],
)
def test_a_bad_claim_set_is_one_line_naming_the_key(change: dict[str, Any], message: str) -> None:
    doc: dict[str, Any] = {
        "name": "x/y",
        "experiment": "smoke",
        "seeds": 2,
        "settings": [{"label": "a"}, {"label": "b"}],
    } | change
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        claims.claim_set_from_config(doc)


def test_seeds_only_and_metric_names() -> None:
    assert claims.parse_seeds(3, "seeds") == (42, 43, 44)
    assert claims.parse_seeds([7, 1], "seeds") == (7, 1)
    with pytest.raises(ConfigError, match="twice"):
        claims.parse_seeds([1, 1], "seeds")
    cs = claims.claim_set_from_config(
        {
            "name": "x/y",
            "experiment": "smoke",
            "settings": [{"label": "a"}, {"label": "b"}, {"label": "c"}],
            "comparisons": [
                {"better": "a", "worse": "b", "metric": "test/acc", "direction": "higher"},
                {"better": "a", "worse": "c", "metric": "test/acc", "direction": "higher"},
            ],
        }
    )
    cut = cs.only(["a", "b"])
    assert cut.labels == ["a", "b"] and len(cut.comparisons) == 1
    with pytest.raises(ConfigError, match="only: no setting d .* a, b, c"):
        cs.only(["d"])
    assert claims.metric_label("test/acc") == "accuracy"
    assert claims.metric_label("train/acc@last") == "train accuracy (last epoch)"


# --------------------------------------------------------------------------- verdicts

ACC = {"a": [0.80, 0.82, 0.81], "b": [0.83, 0.86, 0.84]}  # b beats a on every seed
F1 = {"a": [0.70, 0.74, 0.71], "b": [0.72, 0.71, 0.73]}  # both ways: within noise
SEEDS = (42, 43, 44)
KNOWN = {
    "name": "test/known",
    "title": "hand-made runs",
    "experiment": "smoke",
    "data": "synthetic",
    "seeds": list(SEEDS),
    "settings": [
        {
            "label": "a",
            "source": "row a",
            # 0.82 inside a's interval; a's F1 is far above 0.50
            "paper": {"test/acc": 0.82, "test/f1": 0.50},
        },
        {"label": "b", "source": "row b", "paper": {"test/acc": 0.95}},  # far above b's
    ],
    "comparisons": [
        {"better": "b", "worse": "a", "metric": "test/acc", "direction": "higher"},  # holds
        {"better": "a", "worse": "b", "metric": "test/acc", "direction": "higher"},  # reversed
        {"better": "b", "worse": "a", "metric": "test/f1", "direction": "higher"},  # noise
        {"better": "b", "worse": "a", "metric": "test/f1", "direction": "equal"},  # holds
        {"better": "a", "worse": "b", "metric": "test/acc", "direction": "lower"},  # holds
    ],
}


def _plan(tmp: Path, doc: dict[str, Any] = KNOWN, folds: int | None = None) -> cmd.Plan:
    cs = claims.claim_set_from_config(doc)
    settings = [
        cmd.PlannedSetting(
            setting=s,
            overrides=s.overrides,
            folder=tmp / s.label,
            seeds=cs.seeds,
            folds=folds,
            epochs=1,
            data="synthetic",
        )
        for s in cs.settings
    ]
    return cmd.Plan(cs, "full", tmp, settings)


@pytest.fixture
def known_runs(tmp_path: Path) -> Path:
    for label in ("a", "b"):
        for i, seed in enumerate(SEEDS):
            metrics = {"test/acc": ACC[label][i], "test/f1": F1[label][i]}
            make_run(tmp_path / label / f"seed_{seed}", seed, metrics)
    return tmp_path


def test_verdicts_on_known_runs(known_runs: Path) -> None:
    rep = cmd.collect(_plan(known_runs))
    rows = {(r.claim.setting, r.claim.metric): r for r in rep.claims}
    assert rows[("a", "test/acc")].verdict == "reproduced"
    assert rows[("a", "test/f1")].verdict == "higher"
    assert rows[("b", "test/acc")].verdict == "lower"
    expected = t_interval(ACC["a"])
    got = rows[("a", "test/acc")].interval
    assert got is not None and got.mean == pytest.approx(expected.mean)
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high))
    assert rows[("b", "test/acc")].delta == pytest.approx(sum(ACC["b"]) / 3 - 0.95)
    verdicts = [r.verdict for r in rep.comparisons]
    assert verdicts == ["holds", "reversed", "within noise", "holds", "holds"]
    diff = rep.comparisons[0].difference
    want = paired_difference(ACC["a"], ACC["b"])
    assert diff is not None and diff.interval.mean == pytest.approx(want.interval.mean)
    assert diff.p == pytest.approx(want.p) and diff.test == "paired t"
    assert rep.comparisons[0].comparative.paper_delta == pytest.approx(0.95 - 0.82)


def test_the_table_files(known_runs: Path) -> None:
    rep = cmd.collect(_plan(known_runs))
    console = _console()
    claims.write_outputs(rep, known_runs / "table", wandb_mode="disabled", console=console)
    out = known_runs / "table"
    with (out / "reproduce.csv").open() as fh:
        import csv

        rows = list(csv.DictReader(fh))
    assert [r["verdict"] for r in rows if r["kind"] == "claim"] == ["reproduced", "higher", "lower"]
    comp = [r for r in rows if r["kind"] == "comparison"]
    assert comp[1]["verdict"] == "reversed" and float(comp[0]["delta"]) > 0
    markdown = (out / "reproduce.md").read_text()
    assert "| a | accuracy | synthetic | row a | 0.8200 |" in markdown
    assert "![forest](reproduce_forest.png)" in markdown
    assert "Smoke scale" not in markdown
    assert (out / "reproduce_forest.png").stat().st_size > 1000
    assert "reproduced" in console.export_text()


def test_smoke_tables_say_the_numbers_are_not_the_paper_s(known_runs: Path) -> None:
    plan = _plan(known_runs)
    plan.scale = "smoke"
    rep = claims.evaluate(plan.claim_set, cmd.collect(plan).results, "smoke", ran_on={"a": "x"})
    claims.write_outputs(rep, known_runs / "table", wandb_mode="disabled", console=_console())
    text = (known_runs / "table" / "reproduce.md").read_text()
    assert claims.SMOKE_NOTE in text
    assert "x (paper: synthetic)" in text


def test_missing_seeds_and_too_few_runs(known_runs: Path) -> None:
    (known_runs / "b" / "seed_43" / "test_metrics.json").unlink()
    (known_runs / "b" / "seed_44" / "test_metrics.json").unlink()
    rep = cmd.collect(_plan(known_runs))
    rows = {(r.claim.setting, r.claim.metric): r.verdict for r in rep.claims}
    assert rows[("b", "test/acc")] == claims.NO_INTERVAL
    assert rep.comparisons[0].verdict == claims.NO_INTERVAL
    assert rep.not_run == {"b": "seeds 43, 44 have no finished run"}
    assert claims.claim_verdict(None, 0.5) == claims.NOT_RUN


def test_folds_are_averaged_per_seed_and_logged_columns_read(tmp_path: Path) -> None:
    """With cross-validation a seed's value is the mean over its folds; @last/@min/@max read
    the run's metrics.csv."""
    doc = {
        "name": "t/cv",
        "experiment": "smoke",
        "seeds": [1, 2],
        "settings": [
            {"label": "a", "paper": {"test/acc": 0.5, "train/acc@last": 0.9, "val/loss@min": 1.0}}
        ],
    }
    logged = [
        {"epoch": 0, "train/acc": 0.5, "val/loss": 2.0},
        {"epoch": 1, "train/acc": 0.7, "val/loss": 1.5},
        {"epoch": 2, "train/acc": 0.8, "val/loss": 1.7},
    ]
    for seed, accs in ((1, (0.4, 0.6)), (2, (0.5, 0.7))):
        for fold, acc in enumerate(accs):
            folder = tmp_path / "a" / f"seed_{seed}" / f"fold_{fold}"
            make_run(folder, seed, {"test/acc": acc}, fold=fold, logged=logged)
    plan = _plan(tmp_path, doc, folds=2)
    rep = cmd.collect(plan)
    assert rep.results["a"] == {
        1: {"test/acc": pytest.approx(0.5), "train/acc@last": 0.8, "val/loss@min": 1.5},
        2: {"test/acc": pytest.approx(0.6), "train/acc@last": 0.8, "val/loss@min": 1.5},
    }
    # one fold missing: the seed is not finished
    (tmp_path / "a" / "seed_2" / "fold_1" / "test_metrics.json").unlink()
    assert claims.finished_runs(tmp_path / "a" / "seed_2", 2) is None


# --------------------------------------------------------------------------- resume, launcher


class FakeTrain:
    """Stands in for the training command: records it and leaves the runs it would."""

    def __init__(self, acc: float = 0.5) -> None:
        self.commands: list[list[str]] = []
        self.acc = acc

    def __call__(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        args = dict(a.split("=", 1) for a in command if "=" in a)
        sweep = Path(args["hydra.sweep.dir"])
        for seed in (int(s) for s in args["seed"].split(",")):
            acc = self.acc + seed / 1000
            logged = [{"epoch": 0, "time/epoch_s": 2.5, "train/acc": 0.5, "train/loss": 1.0}]
            make_run(
                sweep / f"seed_{seed}", seed, {"test/acc": acc, "test/loss": 1.0}, logged=logged
            )
        return 0


def test_resume_trains_only_the_missing_seeds(tmp_path: Path) -> None:
    cfg = _compose(
        "claims=s001/table5",
        "scale=smoke",
        "only=[cnn,cnn_300e]",
        "seeds=3",
        "wandb_mode=disabled",
        'launcher=["hydra/launcher=process"]',
        tmp=tmp_path,
    )
    out = tmp_path / "out"
    # a first session finished seed 42 of cnn and was killed in seed 43
    make_run(out / "cnn" / "seed_42", 42, {"test/acc": 0.5, "test/loss": 1.0})
    (out / "cnn" / "seed_43" / "checkpoints").mkdir(parents=True)
    plan = cmd.make_plan(cfg)
    cnn = {p.label: p for p in plan.settings}["cnn"]
    assert cnn.done == (42,) and cnn.todo == (43, 44)

    fake = FakeTrain()
    rep = cmd.reproduce(cfg, runner=fake, console=_console())
    assert isinstance(rep, claims.Reproduction)
    seeds = [next(a for a in c if a.startswith("seed=")) for c in fake.commands]
    assert seeds == ["seed=43,44", "seed=42,43,44"]
    first = fake.commands[0]
    assert first[1:5] == ["-m", "emotion_lab.train", "-m", "experiment=s001_vire_cnn_phase1"]
    assert f"hydra.sweep.dir={out / 'cnn'}" in first
    assert "hydra.sweep.subdir=seed_${seed}" in first
    assert first[-1] == "hydra/launcher=process"  # the launcher fans the seeds out
    assert "data=synthetic" in first and "trainer.max_epochs=1" in first
    assert (out / "cnn" / "interrupted" / "seed_43-1" / "checkpoints").is_dir()
    assert json.loads((out / "cnn" / "setting.json").read_text())["scale"] == "smoke"
    assert (out / "reproduce.md").is_file() and (out / "reproduce.csv").is_file()
    assert rep.results["cnn"][42]["test/acc"] == 0.5  # the first session's run, read back

    again = FakeTrain()
    console = _console()
    cmd.reproduce(cfg, runner=again, console=console)
    assert again.commands == []  # everything finished: only the table
    text = console.export_text()
    assert "0 runs to train" in text and "6 finished runs reused" in text


def test_the_plan_times_runs_from_measured_epochs(tmp_path: Path) -> None:
    cfg = _compose(
        "claims=s001/table5", "scale=smoke", "only=[cnn,cnn_300e]", "seeds=2", tmp=tmp_path
    )
    console = _console()
    cmd.print_plan(cmd.make_plan(cfg), console)
    assert "expected time: unknown" in console.export_text()
    out = tmp_path / "out"
    # an interrupted run logged its first epoch: 4 s
    make_run(
        out / "cnn" / "interrupted" / "seed_42-1",
        42,
        {},
        logged=[{"epoch": 0, "time/epoch_s": 4.0}],
    )
    (out / "cnn" / "interrupted" / "seed_42-1" / "test_metrics.json").unlink()
    plan = cmd.make_plan(cfg)
    by = {p.label: p for p in plan.settings}
    assert by["cnn"].epoch_s == 4.0 and by["cnn"].expected_s == 4.0 * 1 * 2
    assert by["cnn_300e"].epoch_s is None  # another experiment: not timed by cnn's runs
    # a finished seed: its whole wall time (start of the job to its test record) times it
    run = make_run(out / "cnn" / "seed_42", 42, {"test/acc": 0.5})
    start = run / ".hydra" / "config.yaml"
    os.utime(start, (start.stat().st_mtime - 30, start.stat().st_mtime - 30))
    by = {p.label: p for p in cmd.make_plan(cfg).settings}
    assert by["cnn"].todo == (43,) and by["cnn"].expected_s == pytest.approx(30, abs=2)


def test_a_folder_of_another_setting_is_refused(tmp_path: Path) -> None:
    cfg = _compose("claims=s001/table5", "scale=smoke", "only=[cnn]", "seeds=2", tmp=tmp_path)
    folder = tmp_path / "out" / "cnn"
    folder.mkdir(parents=True)
    record = {"experiment": "s001_vire_cnn_phase1", "overrides": ["loss.beta=1"], "scale": "smoke"}
    (folder / cmd.SETTING_FILE).write_text(json.dumps(record))
    with pytest.raises(
        ConfigError, match="its runs are of experiment=s001_vire_cnn_phase1 loss.beta=1"
    ):
        cmd.make_plan(cfg)


def test_a_failed_training_command_still_ends_with_the_table(tmp_path: Path) -> None:
    cfg = _compose(
        "claims=s001/table5",
        "scale=smoke",
        "only=[cnn,cnn_300e]",
        "seeds=2",
        "wandb_mode=disabled",
        tmp=tmp_path,
    )
    fake = FakeTrain()

    def half(command: Sequence[str]) -> int:
        return 1 if "experiment=s001_vire_cnn_phase1_300e" in command else fake(command)

    with pytest.raises(UserError, match="training failed for cnn_300e: .* exited with code 1"):
        cmd.reproduce(cfg, runner=half, console=_console())
    text = (tmp_path / "out" / "reproduce.md").read_text()
    assert "- cnn_300e: the training command exited with code 1" in text


# --------------------------------------------------------------------------- data, bad input


def test_missing_data_sets_are_named_and_the_others_run(tmp_path: Path) -> None:
    """s004/table3 with only FER2013 in place: the plan names the three missing sets and where
    they go, and trains and tabulates FER2013 alone."""
    fer = tmp_path / "data" / "fer2013"
    fer.mkdir(parents=True)
    (fer / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    cfg = _compose("claims=s004/table3", "wandb_mode=disabled", tmp=tmp_path)
    console = _console()
    fake = FakeTrain(acc=0.7)
    rep = cmd.reproduce(cfg, runner=fake, console=console)
    text = " ".join(console.export_text().split())
    for name, where in (("rafdb", "rafdb"), ("affectnet7", "affectnet"), ("expw", "expw")):
        assert (
            f"data set not in place: {name} (left out: {name}): data set folder not found: " in text
        )
        assert str(tmp_path / "data" / where) in text
    assert [c[4] for c in fake.commands] == ["experiment=s004_resemotenet_fer2013"]
    assert isinstance(rep, claims.Reproduction)
    verdicts = {r.claim.setting: r.verdict for r in rep.claims}
    assert verdicts["fer2013"] == "lower"  # 0.742-0.744 against 79.79 %
    assert verdicts["rafdb"] == claims.NOT_RUN
    assert rep.not_run["rafdb"].startswith("data set rafdb not in place: data set folder not found")


def test_no_data_at_all_is_one_line(tmp_path: Path) -> None:
    cfg = _compose("claims=s004/ablation", tmp=tmp_path)
    with pytest.raises(UserError, match="no setting has its data set in place"):
        cmd.reproduce(cfg, runner=FakeTrain(), console=_console())


def test_plan_only_prints_and_stops(tmp_path: Path) -> None:
    cfg = _compose("claims=s003/main", "plan_only=true", "scale=smoke", tmp=tmp_path)
    fake, console = FakeTrain(), _console()
    plan = cmd.reproduce(cfg, runner=fake, console=console)
    assert isinstance(plan, cmd.Plan) and fake.commands == []
    text = console.export_text()
    assert "cnn4" in text and "keras_baseline" in text and "≤ 1" in text
    assert claims.SMOKE_NOTE in " ".join(text.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["claims=s999/nope"],
            "claims=s999/nope: no such claim set; known claim sets: s000/lambda",
        ),
        ([], "claims=<paper>/<table> is required; known claim sets: s000/lambda"),
        (["claims=s000/table3", "scale=huge"], "scale must be one of full, smoke"),
        (["claims=s000/table3", "wandb_mode=off"], "wandb_mode must be offline, online or"),
        (["claims=s000/table3", "only=[beta_9]"], "only: no setting beta_9"),
        (["claims=s000/table3", "seeds=0"], "seeds must be a count"),
        (["claims=s000/table3", 'overrides=["seed=1"]'], "not a train override"),
        (
            ["claims=s000/table3", 'overrides=["optimizer.lrr=1"]'],
            "setting beta_0: Could not override 'optimizer.lrr'",
        ),
        (["claims=s000/table3", "nope=1"], "Could not override 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cmd.main([*args, "plan_only=true", f"out_dir={tmp_path}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert message in err


def test_the_command_line_names_the_known_claim_sets() -> None:
    """``python -m emotion_lab.reproduce claims=<unknown>``: one line, exit 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "emotion_lab.reproduce", "claims=s000/tabel3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: claims=s000/tabel3: no such claim set; known claim sets: {', '.join(CLAIM_SETS)}"
    ]
