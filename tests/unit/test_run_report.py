"""What report.md and the figure titles say about a run: settings, provenance, per-class table."""

from __future__ import annotations

import numpy as np

from emotion_lab.callbacks.analysis import class_averages, per_class_report, per_class_section
from emotion_lab.viz.captions import figure_title, run_settings, with_detail
from emotion_lab.viz.provenance import command_line, job_overrides

CONFIG = {
    "seed": 7,
    "model": {"name": "vire_cnn"},
    "data": {"name": "fer2013"},
    "loss": {
        "beta": 0.1,
        "use_centers": True,
        "center_form": "margin",
        "margin": 5.0,
        "lambda_": 1.0,
    },
    "optimizer": {"_target_": "torch.optim.Adam", "lr": 0.002},
}


def test_run_settings_name_model_data_loss_optimizer_and_seed() -> None:
    assert run_settings(CONFIG) == (
        "vire_cnn on fer2013 · CE + 0.1·center (margin 5, λ 1) · Adam lr 0.002 · seed 7"
    )
    plain = {**CONFIG, "loss": {"beta": 0.0, "use_centers": True}}
    assert run_settings(plain) == "vire_cnn on fer2013 · CE · Adam lr 0.002 · seed 7"
    assert run_settings(None) == ""
    assert figure_title("UMAP", "run-1", None) == "UMAP — run run-1"
    assert figure_title("UMAP", "run-1", CONFIG).splitlines()[1].startswith("vire_cnn on")
    assert with_detail("ROC — run r\nvire_cnn", "AUC 0.9", ", ") == "ROC — run r, AUC 0.9\nvire_cnn"
    assert with_detail("ROC", "AUC 0.9") == "ROC: AUC 0.9"


def test_command_line_as_typed() -> None:
    argv = ["/somewhere/emotion_lab/train.py", "experiment=smoke", "notes=two words"]
    assert command_line(argv, "emotion_lab.train") == (
        "python -m emotion_lab.train experiment=smoke 'notes=two words'"
    )
    assert command_line(["/venv/bin/emotion-lab-train", "a=1"], None) == "emotion-lab-train a=1"
    assert job_overrides() == []  # outside a Hydra app


def test_per_class_section_averages_and_flags_f1_zero() -> None:
    confusion = np.array([[8, 2, 0], [0, 0, 4], [0, 0, 6]])  # class b is never right
    rows = per_class_report(confusion, ("a", "b", "c"))
    macro, weighted = class_averages(rows)
    assert macro["f1"] == np.mean([r["f1"] for r in rows])
    assert weighted["recall"] == (8 + 0 + 6) / 20  # support-weighted recall is accuracy
    assert macro["support"] == weighted["support"] == 20
    text = per_class_section(rows)
    lines = text.splitlines()
    assert lines[0] == "| class | precision | recall | f1 | support | flag |"
    assert lines[3] == "| b | 0.0000 | 0.0000 | 0.0000 | 4 | F1 = 0 |"
    assert lines[2].endswith("| 10 |  |") and lines[5].startswith("| macro avg |")
    assert lines[-1] == "**F1 = 0 for 1 of 3 classes:** b."


def test_per_class_section_leaves_classes_absent_from_the_test_set_unflagged() -> None:
    rows = per_class_report(np.array([[5, 0], [0, 0]]), ("a", "b"))
    text = per_class_section(rows)
    assert "F1 = 0" not in text
    assert class_averages(rows)[0]["f1"] == 1.0  # macro over the classes that were tested
