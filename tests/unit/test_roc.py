"""One-vs-rest ROC per class: the curves, the PNG, and the test analysis writing it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassAUROC

from emotion_lab.callbacks.analysis import TestAnalysis
from emotion_lab.errors import UserError
from emotion_lab.viz.roc import one_vs_rest_roc, plot_roc_curves, save_roc_from_run

CLASSES = ("angry", "happy", "sad")
PNG = b"\x89PNG\r\n\x1a\n"


def _scores(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs.astype(np.float32), labels


def test_per_class_auc_equals_torchmetrics_one_vs_rest() -> None:
    probs, labels = _scores()
    ours = [c.auc for c in one_vs_rest_roc(probs, labels, CLASSES)]
    reference = MulticlassAUROC(num_classes=3, average=None)(
        torch.from_numpy(probs), torch.from_numpy(labels)
    )
    np.testing.assert_allclose(ours, reference.numpy(), atol=1e-5)
    assert all(0.5 < a < 1.0 for a in ours)


def test_separable_and_one_sided_classes() -> None:
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1, 0], [0.8, 0.2, 0], [0.3, 0.7, 0], [0.1, 0.9, 0]])
    curves = one_vs_rest_roc(probs, labels, CLASSES)
    assert [c.auc for c in curves[:2]] == [1.0, 1.0]
    assert np.isnan(curves[2].auc) and curves[2].fpr.size == 0  # no "sad" sample: no curve
    assert curves[0].fpr[0] == 0 and curves[0].tpr[-1] == 1
    fig = plot_roc_curves(probs, labels, CLASSES)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "angry: AUC 1.000" in legend and any(t.startswith("sad: n/a") for t in legend)
    with pytest.raises(ValueError, match="3 columns for 2 classes"):
        one_vs_rest_roc(probs, labels, CLASSES[:2])


def test_roc_png_from_a_run_folder(tmp_path: Path) -> None:
    probs, labels = _scores()
    np.savez_compressed(tmp_path / "test_embeddings.npz", probs=probs, labels=labels)
    path = save_roc_from_run(tmp_path, CLASSES)
    assert path == tmp_path / "figures" / "roc_curves.png"
    assert path.read_bytes()[:8] == PNG
    with pytest.raises(UserError, match="--classes: 2 names for 3 columns"):
        save_roc_from_run(tmp_path, CLASSES[:2])
    with pytest.raises(UserError, match="test_embeddings.npz: not found"):
        save_roc_from_run(tmp_path / "nowhere")


def test_test_analysis_writes_the_roc_png_and_links_it(tmp_path: Path) -> None:
    probs, labels = _scores(120)
    embeddings = np.random.default_rng(1).normal(size=(120, 4)).astype(np.float32)
    confusion = np.zeros((3, 3), dtype=np.int64)
    np.add.at(confusion, (labels, probs.argmax(1)), 1)
    results = {
        "embeddings": torch.from_numpy(embeddings),
        "labels": torch.from_numpy(labels),
        "probs": torch.from_numpy(probs),
        "confusion": torch.from_numpy(confusion),
    }
    module = SimpleNamespace(
        test_results=lambda: results, classes=CLASSES, model=torch.nn.Identity()
    )
    trainer = SimpleNamespace(
        is_global_zero=True,
        callback_metrics={},
        loggers=[],
        current_epoch=0,
        datamodule=None,
        global_step=0,
        ckpt_path=None,
    )
    analysis = TestAnalysis(str(tmp_path), umap=False)
    analysis.on_test_end(trainer, module)  # type: ignore[arg-type]
    png = tmp_path / "figures" / "roc_curves.png"
    assert analysis.images["roc_curves"] == png and png.read_bytes()[:8] == PNG
    assert "roc_curves.png" in (tmp_path / "report.md").read_text()
