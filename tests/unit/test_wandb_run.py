"""W&B run names, tags, checkpoint links, the resumable best checkpoint and the media helpers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from emotion_lab.app.config import compose_config
from emotion_lab.callbacks.resumable_checkpoint import ResumableCheckpoint
from emotion_lab.callbacks.wandb_media import WandbMedia, curve_rows, most_confused_order, thin
from emotion_lab.errors import ConfigError
from emotion_lab.run.wandb_run import evaluation_link, run_name, run_tags, stored_run


def _cfg(tmp_path: Path, *overrides: str):
    return compose_config("train", list(overrides), output_dir=str(tmp_path))


def test_the_name_says_what_the_overrides_change(tmp_path: Path) -> None:
    overrides = ["loss.beta=0.1", "optimizer.lr=2e-3", "paths.data_dir=/d", "logger=csv"]
    assert run_name(_cfg(tmp_path, *overrides), overrides) == "vire_cnn-beta0.1-lr2e-3-s42"
    overrides = ["model=cnn4", "optimizer=sgd", "seed=7", "data.batch_size=32", "tags=[a,b]"]
    assert run_name(_cfg(tmp_path, *overrides), overrides) == "cnn4-sgd-bs32-s7"
    assert run_name(_cfg(tmp_path), []) == "vire_cnn-s42"


def test_a_sweep_trial_is_named_by_its_number_and_seed(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "trial.number=7", "loss.beta=0.3", "seed=43")
    assert run_name(cfg, ["loss.beta=0.3"]) == "trial-7-s43"


def test_seed_repeats_of_two_settings_get_distinct_names(tmp_path: Path) -> None:
    """``loss.beta=0,1.0 repeat.seeds=3``: each job's runs say their β and seed."""
    names = {
        run_name(_cfg(tmp_path, f"seed={seed}"), [f"loss.beta={beta}", "repeat.seeds=3"], fold)
        for beta in ("0", "1.0")
        for seed in (42, 43, 44)
        for fold in (None, 1)
    }
    assert len(names) == 12
    assert "vire_cnn-beta0-s43" in names and "vire_cnn-beta1.0-fold1-s44" in names


def test_tags_merge_in_order_once_and_a_bad_tag_names_the_key(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "tags=[fer,baseline]", "trial.sweeper=optuna", "trial.number=3")
    assert run_tags(cfg, ["fer", "paper"]) == [
        "fer",
        "paper",
        "baseline",
        "sweeper:optuna",
        "trial:3",
    ]
    with pytest.raises(ConfigError, match=r"^tags: 'x{65}' must have 1 to 64 characters"):
        run_tags(_cfg(tmp_path, f"tags=[{'x' * 65}]"), [])


def test_the_training_run_is_found_in_the_checkpoint_or_beside_it(tmp_path: Path) -> None:
    entry = {"id": "abc", "project": "p", "entity": "me", "name": "n"}
    assert stored_run({"wandb_run": entry}, tmp_path / "best.ckpt") == entry
    run_dir = tmp_path / "run" / "wandb" / "offline-run-20260101_000000-xyz9"
    run_dir.mkdir(parents=True)
    (tmp_path / "run" / "wandb" / "latest-run").symlink_to(run_dir)
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert stored_run({}, ckpt)["id"] == "xyz9"
    assert stored_run({}, tmp_path / "elsewhere" / "checkpoints" / "best.ckpt") is None
    link = evaluation_link(str(ckpt), entry)
    assert link["wandb_run"] == "me/p/runs/abc" and link["checkpoint"] == str(ckpt.resolve())


def test_a_fit_resumed_in_a_new_folder_keeps_the_best_checkpoint_and_score(tmp_path: Path) -> None:
    old = tmp_path / "old" / "checkpoints"
    old.mkdir(parents=True)
    (old / "best.ckpt").write_bytes(b"weights of epoch 3")
    state = {
        "dirpath": str(old),
        "monitor": "val/acc",
        "best_model_score": torch.tensor(0.9),
        "best_model_path": str(old / "best.ckpt"),
        "best_k_models": {str(old / "best.ckpt"): torch.tensor(0.9)},
        "kth_best_model_path": str(old / "best.ckpt"),
        "kth_value": torch.tensor(0.9),
        "last_model_path": str(old / "last.ckpt"),
    }
    new = tmp_path / "new" / "checkpoints"
    callback = ResumableCheckpoint(dirpath=new, filename="best", monitor="val/acc", mode="max")
    callback.load_state_dict(state)
    assert (new / "best.ckpt").read_bytes() == b"weights of epoch 3"
    assert callback.best_model_path == str(new / "best.ckpt")
    assert float(callback.best_model_score) == pytest.approx(0.9)
    trainer = SimpleNamespace(strategy=SimpleNamespace(reduce_boolean_decision=lambda d, **_: d))
    assert not callback.check_monitor_top_k(trainer, torch.tensor(0.5))  # a worse epoch
    assert callback.check_monitor_top_k(trainer, torch.tensor(0.95))
    plain = ResumableCheckpoint(dirpath=new, filename="best", monitor="val/acc", mode="max")
    (old / "best.ckpt").unlink()
    (new / "best.ckpt").unlink()
    plain.load_state_dict(state)  # the old best is gone: tracking starts again, as Lightning's
    assert plain.best_model_score is None


def test_most_confused_come_first_then_the_least_sure_right_ones() -> None:
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.55, 0.45], [0.2, 0.8]])
    labels = np.array([0, 0, 0, 1])
    assert most_confused_order(probs, labels).tolist() == [1, 2, 3, 0]


def test_curves_are_thinned_per_class_and_skip_a_class_without_positives() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    probs = np.zeros((500, 3))
    probs[:, :2] = rng.dirichlet([1, 1], 500)
    roc, pr = curve_rows(probs, labels, ["a", "b", "never"], max_points=20)
    assert {r[0] for r in roc} == {r[0] for r in pr} == {"a", "b"}
    assert max(sum(r[0] == c for r in roc) for c in "ab") <= 20
    assert thin(100, 5).tolist() == [0, 25, 50, 74, 99] and thin(3, 5).tolist() == [0, 1, 2]


def test_without_a_wandb_logger_the_media_callback_gathers_nothing() -> None:
    class NoGather:
        def test_results(self) -> None:
            raise AssertionError("gathered without W&B: ranks would wait on each other")

    trainer = SimpleNamespace(loggers=[], callbacks=[], is_global_zero=True)
    media = WandbMedia()
    media.on_test_end(trainer, NoGather())  # type: ignore[arg-type]
    assert media.logged == []


@pytest.mark.parametrize(
    ("choice", "loggers"),
    [
        ("default", {"wandb", "csv"}),
        ("tensorboard", {"tensorboard", "csv"}),
        ("many_loggers", {"wandb", "tensorboard", "csv"}),
    ],
)
def test_logger_choices_build_the_loggers_they_name(
    tmp_path: Path, choice: str, loggers: set[str]
) -> None:
    cfg = _cfg(tmp_path, f"logger={choice}")
    assert {name for name, node in cfg.logger.items() if node is not None} == loggers


def test_the_logged_config_holds_choices_and_settings_not_plumbing(tmp_path: Path) -> None:
    from emotion_lab.run.hyperparams import comparison_config

    cfg = _cfg(tmp_path, "experiment=s000_fi8", "trial.storage=postgresql://u:secret@h/db")
    choices = {"experiment": "s000_fi8", "model": "gram_efficientnet", "hydra/sweeper": "basic"}
    out = comparison_config(cfg, choices, ["experiment=s000_fi8", "loss.beta=0.3"])
    assert out["choices/experiment"] == "s000_fi8" and out["choices/model"] == "gram_efficientnet"
    assert "choices/hydra/sweeper" not in out
    assert out["overrides"] == "experiment=s000_fi8 loss.beta=0.3"
    assert out["optimizer"]["lr"] == cfg.optimizer.lr and out["loss"]["beta"] == cfg.loss.beta
    text = repr(out)
    assert "_target_" not in text and "_partial_" not in text and "secret" not in text
    assert set(out["trainer"]) <= {
        "max_epochs", "precision", "accelerator", "devices", "num_nodes", "strategy",
        "gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches", "deterministic",
    }  # fmt: skip
    assert out["trainer"]["max_epochs"] == cfg.trainer.max_epochs
    assert "paths" not in out and "callbacks" not in out and "hydra" not in out
