"""Checkpoints keep absolute data paths; evaluate reads them from any folder, or under the data
folder the user gives (``EMOTION_LAB_DATA`` / ``paths.data_dir=``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from emotion_lab.app.config import compose_config
from emotion_lab.classifier.checkpoint import checkpoint_config, data_dir_given, rebase_data_paths
from emotion_lab.evaluate import load_run_config


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMOTION_LAB_DATA", raising=False)


def test_a_checkpoint_stores_absolute_data_paths(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    saved = checkpoint_config(compose_config("train", ["experiment=smoke"]))
    assert saved["paths"]["data_dir"] == str(tmp_path / "data")
    assert saved["data"]["root"] == str(tmp_path / "data" / "synthetic")
    assert saved["data"]["source"]["root"] == str(tmp_path / "data" / "synthetic")
    folder = checkpoint_config(compose_config("train", ["data=folder", "data.root=trees/faces"]))
    assert folder["data"]["source"]["root"] == str(tmp_path / "trees" / "faces")
    release = checkpoint_config(compose_config("train", ["data=ferplus"]))
    assert release["data"]["source"]["root"] == str(tmp_path / "data" / "ferplus")
    assert release["data"]["source"]["fer2013_root"] == str(tmp_path / "data" / "fer2013")


def test_stored_paths_move_only_under_a_given_or_for_a_relative_data_dir() -> None:
    data = {
        "name": "data",
        "root": "/old/data/rafdb",
        "source": {"data_dir": "/old/data", "split_dirs": ["/old/data/x", "/elsewhere"]},
    }
    assert rebase_data_paths(data, "/old/data", "new", given=False) == data
    moved = rebase_data_paths(data, "/old/data", "/new", given=True)
    assert moved == {
        "name": "data",
        "root": "/new/rafdb",
        "source": {"data_dir": "/new", "split_dirs": ["/new/x", "/elsewhere"]},
    }
    old = rebase_data_paths({"name": "data", "root": "data/synthetic"}, "data", "/d", False)
    assert old == {"name": "data", "root": "/d/synthetic"}


def test_the_data_folder_counts_as_given_from_the_environment_or_an_override(
    monkeypatch,
) -> None:
    assert not data_dir_given(["seed=1"])
    assert data_dir_given(["paths.data_dir=/x"])
    monkeypatch.setenv("EMOTION_LAB_DATA", "/x")
    assert data_dir_given([])


def _checkpoint(path: Path, saved: dict) -> Path:
    torch.save({"state_dict": {}, "emotion_lab": {"config": saved, "classes": ["a"]}}, path)
    return path


def test_evaluate_from_another_folder_reads_the_training_data(tmp_path, monkeypatch) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    saved = checkpoint_config(compose_config("train", ["experiment=smoke"]))
    ckpt = _checkpoint(tmp_path / "best.ckpt", saved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    run_cfg, _ = load_run_config(compose_config("evaluate", [f"ckpt_path={ckpt}"]))
    assert run_cfg.data.root == str(tmp_path / "project" / "data" / "synthetic")
    monkeypatch.setenv("EMOTION_LAB_DATA", str(tmp_path / "shared"))
    run_cfg, _ = load_run_config(compose_config("evaluate", [f"ckpt_path={ckpt}"]))
    assert run_cfg.data.source.root == str(tmp_path / "shared" / "synthetic")


def test_an_older_checkpoints_relative_paths_resolve_against_the_data_folder(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    old = OmegaConf.to_container(compose_config("train", ["experiment=smoke"]), resolve=True)
    assert old["data"]["root"] == "data/synthetic"  # what checkpoints held before
    ckpt = _checkpoint(tmp_path / "old.ckpt", old)
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", "paths.data_dir=/mnt/sets"])
    run_cfg, _ = load_run_config(cfg)
    assert run_cfg.data.root == "/mnt/sets/synthetic"
    assert os.path.isabs(run_cfg.data.source.root)
