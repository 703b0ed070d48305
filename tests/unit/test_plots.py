"""Evaluation pictures and the markdown report: files are written, readable and carry the data."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lab.viz import (
    markdown_table,
    normalize_confusion,
    plot_center_distances,
    plot_confusion_matrix,
    plot_embedding_2d,
    plot_embedding_umap,
    plot_training_curves,
    read_metrics_csv,
    save_figure,
    subsample_indices,
    training_series,
    umap_2d,
    write_report,
)
from emotion_lab.viz.plots import rare_classes, umap_with_points

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def saved_png(fig, path: Path) -> Image.Image:
    out = save_figure(fig, path)
    assert out == path and path.stat().st_size > 1000
    image = Image.open(path)
    assert image.format == "PNG"
    return image


def cell_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


# --- confusion matrix ----------------------------------------------------------------------------


def test_normalize_confusion_rows_sum_to_one_and_keep_empty_rows_zero() -> None:
    cm = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 2]])
    norm = normalize_confusion(cm)
    np.testing.assert_allclose(norm.sum(axis=1), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(norm[0], [0.8, 0.2, 0.0])


def test_confusion_matrix_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 30, size=(7, 7)) + np.diag(rng.integers(50, 200, 7))
    fig = plot_confusion_matrix(cm, CLASSES, normalize=True, title="test")
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown.sum(axis=1), 1.0)
    texts = cell_texts(fig)
    assert len(texts) == 49
    assert f"({cm[0, 0]})" in texts[0] and texts[0].startswith(f"{cm[0, 0] / cm[0].sum():.0%}")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == CLASSES
    image = saved_png(fig, tmp_path / "cm.png")
    width, height = image.size
    assert 500 < width < 1400 and 500 < height < 1200

    counts = plot_confusion_matrix(cm, CLASSES, normalize=False)
    np.testing.assert_array_equal(counts.axes[0].images[0].get_array(), cm)
    assert cell_texts(counts)[0] == str(cm[0, 0])


def test_confusion_matrix_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ValueError, match="classes"):
        plot_confusion_matrix(np.zeros((3, 3)), ["a", "b"])


# --- center distances ----------------------------------------------------------------------------


def test_center_distance_plot(tmp_path: Path) -> None:
    dist = np.array([[0.0, 5.0, 10.0], [5.0, 0.0, 5.0], [10.0, 5.0, 0.0]])
    fig = plot_center_distances(dist, ["a", "b", "c"])
    # the diagonal (each center to itself) is masked: no number, no colour
    assert cell_texts(fig) == ["", "5.00", "10.00", "5.00", "", "5.00", "10.00", "5.00", ""]
    shown = fig.axes[0].images[0].get_array()
    assert shown.mask.tolist() == np.eye(3, dtype=bool).tolist()
    assert not fig.axes[0].patches  # no margin given, nothing outlined
    image = saved_png(fig, tmp_path / "nested" / "centers.png")
    assert image.size[0] > 300 and image.size[1] > 300


def test_center_distance_plot_marks_pairs_inside_the_margin() -> None:
    dist = np.array([[0.0, 2.0, 9.0], [2.0, 0.0, 7.0], [9.0, 7.0, 0.0]])
    fig = plot_center_distances(dist, ["a", "b", "c"], margin=5.0)
    outlined = sorted((int(p.get_y() + 0.5), int(p.get_x() + 0.5)) for p in fig.axes[0].patches)
    assert outlined == [(0, 1), (1, 0)]  # only a-b is closer than 5
    bar = fig.axes[1]
    assert [line.get_ydata()[0] for line in bar.lines] == [5.0]
    legend = fig.axes[0].get_legend().get_texts()[0].get_text()
    assert legend.startswith("1 pair(s) closer than the margin 5")


# --- embeddings scatter --------------------------------------------------------------------------


def test_embedding_scatter_colours_by_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, size=300)  # class 6 ("neutral") absent
    coords = rng.normal(size=(300, 2)) + labels[:, None] * 3
    fig = plot_embedding_2d(coords, labels, CLASSES, title="scatter")
    legend = fig.axes[0].get_legend()
    counts = np.bincount(labels, minlength=7)
    assert [t.get_text() for t in legend.get_texts()] == [
        f"{name} ({counts[i]})" for i, name in enumerate(CLASSES[:6])
    ]
    assert fig.axes[0].collections[0].get_offsets().shape == (300, 2)
    image = saved_png(fig, tmp_path / "scatter.png")
    assert image.size[0] > image.size[1]  # legend sits right of the square plot
    with pytest.raises(ValueError, match="labels"):
        plot_embedding_2d(coords, labels + 5, CLASSES)


def test_rare_classes_are_drawn_last_and_larger() -> None:
    labels = np.array([0] * 100 + [1] * 100 + [2] * 3)
    assert rare_classes(labels, 4).tolist() == [False, False, True, False]  # 3 absent: not rare
    coords = np.random.default_rng(0).normal(size=(len(labels), 2))
    fig = plot_embedding_2d(coords, labels, ["a", "b", "c", "d"])
    points = fig.axes[0].collections[0]
    drawn = points.get_array()  # class per point, in drawing order
    assert drawn[-3:].tolist() == [2, 2, 2] and set(drawn[:-3].tolist()) == {0, 1}
    sizes = points.get_sizes()
    assert sizes[-1] == pytest.approx(2.5 * sizes[0])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["a (100)", "b (100)", "c (3, rare)"]


def test_embedding_scatter_draws_labelled_centers() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 20)
    coords = rng.normal(size=(60, 2)) + labels[:, None] * 4
    centers = np.array([[0.0, 0.0], [4.0, 4.0], [8.0, 8.0]])
    fig = plot_embedding_2d(coords, labels, ["a", "b", "c"], centers=centers)
    ax = fig.axes[0]
    marks = [c for c in ax.collections if c.get_offsets().shape == (3, 2)]
    assert len(marks) == 1 and np.allclose(marks[0].get_offsets(), centers)
    assert [t.get_text() for t in ax.texts] == ["a", "b", "c"]
    assert "learned center" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="centers"):
        plot_embedding_2d(coords, labels, ["a", "b", "c"], centers=centers[:2])


def test_subsample_indices_are_deterministic_sorted_and_unique() -> None:
    a = subsample_indices(1000, 100, seed=3)
    np.testing.assert_array_equal(a, subsample_indices(1000, 100, seed=3))
    assert a.size == 100 and np.all(np.diff(a) > 0) and a.max() < 1000
    assert not np.array_equal(a, subsample_indices(1000, 100, seed=4))
    np.testing.assert_array_equal(subsample_indices(50, 100), np.arange(50))


@pytest.mark.slow  # numba compiles UMAP's kernels on first use (about 10 s)
def test_umap_projection_and_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(4), 60)
    x = rng.normal(size=(4, 136))[labels] * 4 + rng.normal(size=(240, 136))
    coords, indices = umap_2d(x, seed=0, max_points=200)
    assert coords.shape == (200, 2) and indices.shape == (200,)
    again, _ = umap_2d(x, seed=0, max_points=200)
    np.testing.assert_array_equal(coords, again)
    # well separated classes stay apart: each point's nearest neighbour shares its class
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1) + np.eye(200) * 1e9
    assert np.mean(labels[indices][d.argmin(1)] == labels[indices]) > 0.95
    fig = plot_embedding_umap(x, labels, ["a", "b", "c", "d"], max_points=200)
    saved_png(fig, tmp_path / "umap.png")
    # a class's center lands among that class's samples
    means = np.stack([x[labels == k].mean(0) for k in range(4)])
    coords, indices, placed = umap_with_points(x, means, seed=0, max_points=200)
    for k in range(4):
        nearest = np.linalg.norm(coords - placed[k], axis=1).argmin()
        assert labels[indices][nearest] == k


# --- training curves -----------------------------------------------------------------------------


def write_metrics_csv(path: Path) -> None:
    """A CSVLogger-like file: every row fills only some columns."""
    header = [
        "epoch",
        "step",
        "train/loss_step",
        "val/loss",
        "val/acc",
        "train/loss_epoch",
        "train/acc_epoch",
    ]
    rows = []
    step = 0
    for epoch in range(3):
        for _ in range(2):
            rows.append({"epoch": epoch, "step": step, "train/loss_step": 2.0 - 0.3 * epoch})
            step += 1
        rows.append(
            {
                "epoch": epoch,
                "step": step,
                "val/loss": 2.1 - 0.4 * epoch,
                "val/acc": 0.2 * (epoch + 1),
            }
        )
        rows.append(
            {
                "epoch": epoch,
                "step": step,
                "train/loss_epoch": 1.9 - 0.3 * epoch,
                "train/acc_epoch": 0.25 * (epoch + 1),
            }
        )
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def test_training_curves_from_sparse_metrics_csv(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    write_metrics_csv(path)
    rows = read_metrics_csv(path)
    assert len(rows) == 12 and "val/loss" not in rows[0]
    series = training_series(rows)
    assert set(series) == {"train_loss", "val_loss", "train_acc", "val_acc"}
    np.testing.assert_allclose(series["train_loss"][1], [1.9, 1.6, 1.3])  # epoch column wins
    np.testing.assert_array_equal(series["val_acc"][0], [0, 1, 2])

    fig = plot_training_curves(path, title="run")
    loss_ax, acc_ax = fig.axes
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), [2.1, 1.7, 1.3])
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [0.25, 0.5, 0.75])
    image = saved_png(fig, tmp_path / "curves.png")
    assert image.size[0] > 2 * image.size[1]  # two panels side by side


def test_training_curves_average_step_values_and_skip_missing_accuracy() -> None:
    rows = [
        {"epoch": 0, "step": 0, "train/loss": 3.0},
        {"epoch": 0, "step": 1, "train/loss": 1.0},
        {"epoch": 1, "step": 2, "train/loss": 1.0},
        {"epoch": 1, "step": 2, "val/loss": 1.5},
    ]
    fig = plot_training_curves(rows)
    assert len(fig.axes) == 1
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [2.0, 1.0])


def test_training_curves_report_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        plot_training_curves(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,step,val/loss\n0,0,1.0\n1,1,oops\n")
    with pytest.raises(ValueError, match=r"bad.csv: row 3, column 'val/loss'"):
        plot_training_curves(bad)
    other = tmp_path / "other.csv"
    other.write_text("epoch,step,lr\n0,0,0.1\n")
    with pytest.raises(ValueError, match="none of the curve columns"):
        plot_training_curves(other)
    with pytest.raises(ValueError, match="no 'epoch'"):
        training_series([{"val/loss": 1.0}])


def test_training_curves_show_loss_terms_learning_rate_and_best_epoch() -> None:
    rows: list[dict[str, float]] = []
    for epoch in range(3):
        rows.append({"step": 4 * epoch, "lr-Adam": 0.1 / 10**epoch})  # LR monitor: no epoch
        rows.append(
            {
                "epoch": epoch,
                "step": 4 * epoch + 3,
                "val/loss": 2.0,
                "val/ce": 1.5,
                "val/acc": [0.3, 0.6, 0.6][epoch],
            }
        )
        rows.append(
            {
                "epoch": epoch,
                "step": 4 * epoch + 3,
                "train/loss": 2.5,
                "train/ce": 1.4,
                "train/center": 11.0 - epoch,
                "train/intra": 10.0,
                "train/inter": 1.0,
            }
        )
    series = training_series(rows)
    np.testing.assert_array_equal(series["lr"][0], [0, 1, 2])
    np.testing.assert_allclose(series["lr"][1], [0.1, 0.01, 0.001])
    fig = plot_training_curves(rows, title="run", best=(1, "best epoch 1"))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "center terms (train)", "accuracy", "learning rate"]
    loss_labels = [line.get_label() for line in fig.axes[0].lines]
    assert loss_labels == ["train total", "val total", "train CE", "val CE", "best epoch 1"]
    for ax in fig.axes:  # the kept checkpoint's epoch on every panel
        assert ax.lines[-1].get_xdata()[0] == 1
    assert fig.axes[3].get_yscale() == "log"  # three decades of learning rate


# --- saving --------------------------------------------------------------------------------------


def test_save_figure_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    fig = plot_center_distances(np.zeros((2, 2)), ["a", "b"])
    save_figure(fig, target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_figures_and_reports_are_readable_by_others(tmp_path: Path) -> None:
    """0644 (less what the user's umask forbids), not mkstemp's private 0600."""
    figure = save_figure(plot_center_distances(np.eye(2), ["a", "b"]), tmp_path / "f.png")
    report = write_report(tmp_path, {}, {"f": figure}, title="t")
    mask = os.umask(0o022)
    os.umask(mask)
    for path in (figure, report):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~mask


# --- report --------------------------------------------------------------------------------------


def test_markdown_table_formats_and_escapes() -> None:
    table = markdown_table(
        [{"class": "a|b", "f1": 0.123456, "support": 10}, {"class": "c", "f1": 1e-5, "support": 0}],
        ["class", "f1", "support"],
    )
    assert table.splitlines() == [
        "| class | f1 | support |",
        "|---|---|---|",
        "| a\\|b | 0.1235 | 10 |",
        "| c | 1.000e-05 | 0 |",
    ]
    with pytest.raises(ValueError, match=r"rows\[0\]: missing column 'recall'"):
        markdown_table([{"f1": 1.0}], ["f1", "recall"])


def test_write_report(tmp_path: Path) -> None:
    run = tmp_path / "run"
    figures = run / "figures"
    fig_path = save_figure(plot_center_distances(np.eye(2), ["a", "b"]), figures / "centers.png")
    table = markdown_table([{"class": "a", "f1": 0.5}], ["class", "f1"])
    report = write_report(
        run,
        {"test/acc": np.float32(0.71875), "ari": 0.4657},
        {"Center distances": fig_path},
        title="FI-8 test",
        extra_sections={"Per-class report": table},
    )
    assert report == run / "report.md"
    text = report.read_text()
    assert text.startswith("# FI-8 test\n")
    assert "| test/acc | 0.7188 |" in text and "| ari | 0.4657 |" in text
    assert "![Center distances](figures/centers.png)" in text
    assert "## Per-class report\n\n| class | f1 |" in text
    assert sorted(p.name for p in run.iterdir()) == ["figures", "report.md"]


def test_write_report_puts_the_run_first_and_tables_before_figures(tmp_path: Path) -> None:
    figure = save_figure(plot_center_distances(np.eye(2), ["a", "b"]), tmp_path / "f.png")
    text = write_report(
        tmp_path,
        {"test/acc": 0.5},
        {"centers": figure},
        title="t",
        extra_sections={"Per-class": "| x |"},
        run_info={"command": "`python -m emotion_lab.train a=1`", "best epoch": 3},
    ).read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Run", "## Metrics", "## Per-class", "## Figures"]
    assert "| command | `python -m emotion_lab.train a=1` |" in text
    assert "| best epoch | 3 |" in text


def test_write_report_rejects_missing_images_and_non_scalars(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'umap' not found"):
        write_report(tmp_path, {}, {"umap": tmp_path / "umap.png"}, title="t")
    with pytest.raises(ValueError, match=r"metrics\['kmeans_centers'\]"):
        write_report(tmp_path, {"kmeans_centers": np.zeros((2, 2))}, {}, title="t")
    with pytest.raises(FileNotFoundError, match="run directory"):
        write_report(tmp_path / "nope", {}, {}, title="t")
