"""``emotion_lab.comparison.table`` on hand-made run folders whose metrics, and so whose table, are known."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from emotion_lab import compare as compare_command
from emotion_lab.callbacks.analysis import per_class_report, per_class_section
from emotion_lab.comparison import table as compare
from emotion_lab.comparison.stats import t_interval
from emotion_lab.run.records import RunFolderError, discover_runs, write_run_record
from emotion_lab.viz import compare_plots

CLASSES = ("angry", "happy", "sad")
# test/acc per seed: β = 0.1 beats β = 0 on every seed; test/f1 goes both ways
ACC = {0.0: [0.80, 0.82, 0.81], 0.1: [0.83, 0.86, 0.84]}
F1 = {0.0: [0.70, 0.74, 0.71], 0.1: [0.72, 0.71, 0.73]}
SEEDS = [1, 2, 3]


def make_run(
    folder: Path,
    *,
    beta: float,
    seed: int,
    metrics: dict[str, float],
    data: str = "synthetic",
    classes: tuple[str, ...] = CLASSES,
    overrides: list[str] | None = None,
) -> Path:
    """A run folder as the run plan leaves it: config, overrides, test metrics, report."""
    (folder / ".hydra").mkdir(parents=True)
    config = {"seed": seed, "data": {"name": data, "fold": None}, "loss": {"beta": beta}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    given = overrides if overrides is not None else [f"loss.beta={beta}", f"seed={seed}"]
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(given))
    write_run_record(folder, metrics=metrics, objective=metrics["test/acc"], seed=seed)
    # the per-class table as the analysis callback writes it, average rows included
    rows = per_class_report(np.eye(len(classes), dtype=np.int64) * 10, classes)
    (folder / "report.md").write_text(
        f"# r\n\n## Per-class report (test)\n\n{per_class_section(rows)}\n"
    )
    return folder


@pytest.fixture
def beta_runs(tmp_path: Path) -> Path:
    """A multirun-like folder: two β values × three seeds."""
    root = tmp_path / "multirun"
    for job, beta in enumerate(ACC):
        for i, seed in enumerate(SEEDS):
            make_run(
                root / str(job) / f"seed_{seed}",
                beta=beta,
                seed=seed,
                metrics={"test/acc": ACC[beta][i], "test/f1": F1[beta][i]},
            )
    return root


def _table(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as fh:
        return {(r["metric"], r["group"]): r for r in csv.DictReader(fh)}


def test_the_table_of_known_runs(beta_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = compare.run_compare([beta_runs], by=["loss.beta"], out_dir=out, wandb_mode="disabled")
    rows = _table(out / "compare.csv")
    assert result.reference == "loss.beta=0.0"
    ref, acc = rows[("test/acc", "loss.beta=0.0")], rows[("test/acc", "loss.beta=0.1")]
    expected = t_interval(ACC[0.1])
    assert int(acc["n"]) == 3
    assert float(acc["mean"]) == pytest.approx(statistics.fmean(ACC[0.1]))
    assert float(acc["ci95_low"]) == pytest.approx(expected.low)
    assert float(acc["ci95_high"]) == pytest.approx(expected.high)
    diffs = [b - a for a, b in zip(ACC[0.0], ACC[0.1], strict=True)]
    assert float(acc["diff"]) == pytest.approx(statistics.fmean(diffs))
    assert float(acc["diff_ci95_low"]) == pytest.approx(t_interval(diffs).low)
    assert acc["test"] == "paired t" and acc["wilcoxon_p"] != ""
    assert acc["verdict"] == "higher"  # +0.03..+0.04 on every seed
    assert ref["verdict"] == "reference" and ref["diff"] == ""
    assert rows[("test/f1", "loss.beta=0.1")]["verdict"] == "within noise"
    markdown = (out / "compare.md").read_text()
    assert "within noise" in markdown and "paired t (n=3)" in markdown
    assert (out / "compare_forest.png").stat().st_size > 0


def test_the_wandb_run_of_a_comparison_joins_the_group_of_its_runs(
    beta_runs: Path, tmp_path: Path
) -> None:
    out = beta_runs / "compare"
    result = compare.run_compare([beta_runs], by=["loss.beta"], out_dir=out, wandb_mode="disabled")
    assert compare.wandb_group(result, out) == "train-multirun"  # what its jobs' runs got
    assert compare.wandb_group(result, tmp_path / "elsewhere") is None


def test_groups_default_to_the_overrides_that_differ(beta_runs: Path, tmp_path: Path) -> None:
    result = compare.run_compare(
        [beta_runs], out_dir=tmp_path / "cmp", metrics=["test/acc"], wandb_mode="disabled"
    )
    assert [g.label for g in result.groups] == ["loss.beta=0.0", "loss.beta=0.1"]
    assert [len(g.runs) for g in result.groups] == [3, 3]


def test_unpaired_seeds_use_welch_and_the_reference_can_be_chosen(
    beta_runs: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    for seed, acc in ((7, 0.90), (8, 0.88)):
        make_run(other / f"seed_{seed}", beta=0.5, seed=seed, metrics={"test/acc": acc})
    out = tmp_path / "cmp"
    compare.run_compare(
        [beta_runs, other],
        by=["loss.beta"],
        metrics=["test/acc"],
        reference="0.1",
        out_dir=out,
        wandb_mode="disabled",
    )
    rows = _table(out / "compare.csv")
    half = rows[("test/acc", "loss.beta=0.5")]
    assert half["test"] == "Welch t" and half["wilcoxon_p"] == ""
    assert float(half["diff"]) == pytest.approx(0.89 - statistics.fmean(ACC[0.1]))
    assert rows[("test/acc", "loss.beta=0.1")]["verdict"] == "reference"


def test_discovery_passes_over_folders_that_are_not_runs(beta_runs: Path) -> None:
    failed = beta_runs / "2"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "config.yaml").write_text("seed: 4\n")  # a trial that never tested
    assert len(discover_runs(beta_runs)) == 6


def test_a_folder_without_runs_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match=r"empty: not a run folder and holds none"):
        compare.run_compare([tmp_path / "empty"], wandb_mode="disabled")


def test_runs_on_different_data_sets_or_classes_are_refused(tmp_path: Path) -> None:
    metrics = {"test/acc": 0.5}
    make_run(tmp_path / "a", beta=0.0, seed=1, metrics=metrics)
    make_run(tmp_path / "b", beta=0.0, seed=1, metrics=metrics, data="fer2013")
    with pytest.raises(RunFolderError, match=r"b: data set 'fer2013', but .*'synthetic'"):
        compare.run_compare([tmp_path / "a", tmp_path / "b"], wandb_mode="disabled")
    make_run(tmp_path / "c", beta=0.0, seed=1, metrics=metrics, classes=("x", "y", "z"))
    with pytest.raises(RunFolderError, match=r"c: classes \['x', 'y', 'z'\] differ"):
        compare.run_compare([tmp_path / "a", tmp_path / "c"], wandb_mode="disabled")


def test_a_metric_or_key_some_runs_lack_is_named(tmp_path: Path) -> None:
    make_run(tmp_path / "a", beta=0.0, seed=1, metrics={"test/acc": 0.5, "test/ari": 0.1})
    make_run(tmp_path / "b", beta=0.1, seed=1, metrics={"test/acc": 0.6})
    with pytest.raises(RunFolderError, match=r"b: no metric 'test/ari'"):
        compare.run_compare([tmp_path], wandb_mode="disabled")
    with pytest.raises(RunFolderError, match=r"its config has no key 'optimizer.lr'"):
        compare.run_compare(
            [tmp_path], by=["optimizer.lr"], metrics=["test/acc"], wandb_mode="disabled"
        )
    with pytest.raises(RunFolderError, match=r"--reference 0.7: no group has it"):
        compare.run_compare(
            [tmp_path],
            by=["loss.beta"],
            metrics=["test/acc"],
            reference="0.7",
            wandb_mode="disabled",
        )


def test_the_command_line_prints_one_line_on_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        compare_command.main([str(tmp_path / "missing"), "--wandb", "disabled"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "missing: no such folder" in err
    assert len(err.splitlines()) == 1


def test_the_table_goes_to_a_wandb_run_of_job_type_compare(
    beta_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    seen: dict[str, object] = {}
    real_init = wandb.init

    def init(**kwargs: object):
        seen.update(kwargs)
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", init)
    out = tmp_path / "cmp"
    compare.run_compare([beta_runs], by=["loss.beta"], out_dir=out, wandb_mode="offline")
    assert seen["job_type"] == "compare" and seen["mode"] == "offline"
    (table,) = (out / "wandb").glob("offline-run-*/files/media/table/compare_*.table.json")
    doc = json.loads(table.read_text())
    assert doc["columns"] == compare.COLUMNS
    assert len(doc["data"]) == 4  # 2 groups × 2 metrics


@pytest.mark.slow  # UMAP compiles its numba code on first use
def test_forest_plot_and_side_by_side_umaps_of_one_run_per_group(
    beta_runs: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    for run in discover_runs(beta_runs):
        labels = np.arange(60) % len(CLASSES)
        embeddings = rng.normal(size=(60, 8)) + 4.0 * labels[:, None]
        np.savez_compressed(run.path / "test_embeddings.npz", embeddings=embeddings, labels=labels)
    out = tmp_path / "cmp"
    result = compare.run_compare(
        [beta_runs], by=["loss.beta"], out_dir=out, umap=True, wandb_mode="disabled"
    )
    assert result.files["umap"] == out / "compare_umap.png"
    assert (out / "compare_umap.png").stat().st_size > 0
    assert "![umap](compare_umap.png)" in (out / "compare.md").read_text()
    picked = compare._umap_runs(result.groups, [])
    assert [(label, run.seed) for label, run in picked] == [
        ("loss.beta=0.0", 1),
        ("loss.beta=0.1", 1),
    ]
    fig = compare_plots.plot_forest(
        ["test/acc"],
        ["a", "b"],
        {("test/acc", "a"): t_interval([1, 2]), ("test/acc", "b"): t_interval([3])},
    )
    assert len(fig.axes) == 1


def test_class_names_are_read_back_without_the_average_rows(tmp_path: Path) -> None:
    """report.md's table ends with macro and weighted averages: they are not classes (a UMAP
    legend once listed them)."""
    run = make_run(tmp_path / "r", beta=0.0, seed=1, metrics={"test/acc": 0.8})
    assert "| macro avg |" in (run / "report.md").read_text()
    (found,) = discover_runs(run)
    assert found.classes == CLASSES
