"""A checkpoint from elsewhere is read as data: no reader unpickles a Python object in it, and
its stored run config is built only where every ``_target_`` is one emotion-lab builds.

Each hostile file here would create a marker file if anything in it ran (a pickled entry whose
``__reduce__`` touches it, a stored ``_target_`` that writes it); every reader refuses it in one
line and the marker proves that nothing ran.
"""

from __future__ import annotations

import copy
import pathlib
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from omegaconf import OmegaConf

import emotion_lab
from emotion_lab.app.checks import check_train_config
from emotion_lab.app.config import CONFIG_DIR, compose_config
from emotion_lab.callbacks.wandb_link import WandbRunLink
from emotion_lab.classifier.checkpoint import (
    CONFIG_TARGETS,
    FORMER_TARGETS,
    built_target,
    checkpoint_config,
    read_run_checkpoint,
    stored_classes,
)
from emotion_lab.classifier.inference import build_inference_module
from emotion_lab.classifier.module import EmotionClassifier
from emotion_lab.classifier.schedules import cosine_warm_restarts, warmup_cosine
from emotion_lab.errors import CheckpointError
from emotion_lab.evaluate import load_run_config
from emotion_lab.models.checkpoint import read_checkpoint, read_state_dict
from emotion_lab.run.wandb_run import read_stored_run

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
REPO = Path(__file__).resolve().parents[2]


class Payload:
    """Pickled into a checkpoint: unpickling it creates ``marker`` (as any code could run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What training stores, for an untrained ``experiment=smoke`` module (data only)."""
    folder = tmp_path_factory.mktemp("run")
    cfg = compose_config("train", ["experiment=smoke"], output_dir=str(folder))
    torch.manual_seed(0)
    module = build_inference_module(cfg, CLASSES)
    return {
        "state_dict": module.state_dict(),
        "epoch": 1,
        "global_step": 12,
        "emotion_lab": {"config": checkpoint_config(cfg), "classes": list(CLASSES)},
    }


def _save(path: Path, checkpoint: dict[str, Any]) -> Path:
    torch.save(checkpoint, path)
    return path


def _one_line_refusal(call: Callable[[], object], marker: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    assert not marker.exists(), "the checkpoint ran code"
    return message


# -- pickled Python objects ------------------------------------------------------------------


@pytest.fixture
def pickled(tmp_path: Path, trained: dict[str, Any]) -> tuple[Path, Path]:
    """An emotion-lab checkpoint with one more entry: a pickled object that runs code."""
    marker = tmp_path / "ran.txt"
    checkpoint = {**trained, "extra": {"note": Payload(marker)}}
    return _save(tmp_path / "last.ckpt", checkpoint), marker


def _wandb_link_reads(path: Path) -> None:
    """The W&B link callback at the end of a fit, its best checkpoint being ``path``."""
    best = ModelCheckpoint(monitor="val/acc", mode="max")
    best.best_model_path, best.best_model_score = str(path), torch.tensor(0.5)
    logger = WandbLogger.__new__(WandbLogger)  # no W&B run: the read must fail before it
    trainer = SimpleNamespace(loggers=[logger], is_global_zero=True, checkpoint_callback=best)
    WandbRunLink().on_fit_end(trainer, None)  # type: ignore[arg-type]


READERS: dict[str, Callable[[Path], object]] = {
    "evaluate": lambda p: load_run_config(compose_config("evaluate", [f"ckpt_path={p}"])),
    "load_checkpoint": lambda p: emotion_lab.load_checkpoint(p),
    "load_from_checkpoint": lambda p: EmotionClassifier.load_from_checkpoint(p),
    "read_run_checkpoint": lambda p: read_run_checkpoint(p),
    "read_stored_run": lambda p: read_stored_run(p),
    "resume_check": lambda p: check_train_config(
        compose_config("train", ["experiment=smoke", f"ckpt_path={p}"])
    ),
    "resume_classes": lambda p: stored_classes(p),
    "read_checkpoint": lambda p: read_checkpoint(p, "ckpt_path"),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_pickled_object_in_a_checkpoint_is_refused_by_every_reader(pickled, reader) -> None:
    path, marker = pickled
    message = _one_line_refusal(lambda: READERS[reader](path), marker)
    assert message.startswith(f"ckpt_path='{path}': holds pickled Python objects ("), message
    assert "not loaded" in message


def test_the_wandb_link_callback_reads_the_best_checkpoint_as_data(pickled) -> None:
    path, marker = pickled
    message = _one_line_refusal(lambda: _wandb_link_reads(path), marker)
    assert message.startswith(f"best_model_path='{path}': holds pickled Python objects (")


def test_a_weight_file_with_a_pickled_object_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    path = _save(tmp_path / "w.pth", {"w": torch.ones(2), "x": Payload(marker)})
    message = _one_line_refusal(lambda: read_state_dict(path, "model.checkpoint_path"), marker)
    assert message.startswith(f"model.checkpoint_path='{path}': holds pickled Python objects")


def test_lightning_resumes_a_checkpoint_as_data(pickled, tmp_path, monkeypatch) -> None:
    """``fit`` hands the resume file to Lightning with ``weights_only=True``: even where the
    environment asks torch for full unpickling by default, and with the project's own check
    before it skipped, the pickled entry is not loaded."""
    from emotion_lab.run import fit

    path, marker = pickled
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.setattr(fit, "stored_classes", lambda _: None)  # the check before Lightning
    overrides = [
        "experiment=smoke",
        "logger=csv",
        f"ckpt_path={path}",
        f"paths.data_dir={tmp_path / 'data'}",
        "data.source.n=140",
        "callbacks.analysis=null",
    ]
    cfg = compose_config("train", overrides, output_dir=str(tmp_path / "out"))
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        fit.fit_and_test(cfg, summary=False)
    assert not marker.exists(), "Lightning unpickled the checkpoint"


def test_checkpoints_of_the_project_load_as_data(tmp_path, trained) -> None:
    """What Lightning stores beside the weights (loops, callbacks' states, the optimizer and
    the schedules of conf/scheduler) is data: the whole file loads with weights_only."""
    params = [torch.nn.Parameter(torch.ones(3))]
    optimizers = [
        torch.optim.Adam(params, lr=1e-3),
        torch.optim.AdamW(params, lr=1e-3),
        torch.optim.SGD(params, lr=1e-3, momentum=0.9),
    ]
    schedulers = [
        warmup_cosine(optimizers[0], total_steps=10),
        cosine_warm_restarts(optimizers[1], steps_per_epoch=3),
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizers[2], mode="max"),
    ]
    for opt in optimizers:
        params[0].grad = torch.ones(3)
        opt.step()
    for scheduler in schedulers:
        scheduler.step(
            *([0.5] if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else [])
        )
    checkpoint = {
        **trained,
        "pytorch-lightning_version": "2.6.6",
        "loops": {"fit_loop": {"epoch_loop.batch_progress": {"total": {"ready": 12}}}},
        "callbacks": {
            "ResumableCheckpoint{'monitor': 'val/acc'}": {
                "best_model_score": torch.tensor(0.18),
                "best_k_models": {"/x/best.ckpt": torch.tensor(0.18)},
                "best_model_path": "/x/best.ckpt",
            },
            "BestWeightsEarlyStopping": {"best": float("-inf"), "best_epoch": -1, "wait": 0},
        },
        "optimizer_states": [o.state_dict() for o in optimizers],
        "lr_schedulers": [s.state_dict() for s in schedulers],
        "wandb_run": {"id": "abc123", "project": "p", "entity": None, "name": "n", "group": None},
    }
    path = _save(tmp_path / "last.ckpt", checkpoint)
    assert read_checkpoint(path, "ckpt_path")["global_step"] == 12
    assert read_run_checkpoint(path).classes == CLASSES
    assert read_stored_run(path) == checkpoint["wandb_run"]
    assert emotion_lab.load_checkpoint(path).classes == CLASSES


# -- the stored run config's targets ---------------------------------------------------------


def _with_config(trained: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict:
    checkpoint = copy.deepcopy(trained)
    change(checkpoint["emotion_lab"]["config"])
    return checkpoint


def _writes(marker: Path, **extra: Any) -> dict[str, Any]:
    return {"_target_": "emotion_lab.files.write_text", "path": str(marker), "text": "x", **extra}


HOSTILE_CONFIGS: dict[str, tuple[Callable[[dict[str, Any], Path], None], str, str]] = {
    "optimizer": (
        lambda c, m: c.__setitem__("optimizer", _writes(m)),
        "optimizer._target_",
        "emotion_lab.files.write_text",
    ),
    "partial": (
        lambda c, m: c.__setitem__(
            "optimizer", {"_target_": "builtins.open", "_partial_": True, "file": str(m)}
        ),
        "optimizer._target_",
        "builtins.open",
    ),
    "nested_under_loss": (
        lambda c, m: c["loss"].__setitem__("class_weights", _writes(m)),
        "loss.class_weights._target_",
        "emotion_lab.files.write_text",
    ),
    "in_a_list": (
        lambda c, m: c["loss"].__setitem__("extra", [1, {"args": [_writes(m)]}]),
        "loss.extra[1].args[0]._target_",
        "emotion_lab.files.write_text",
    ),
    "torch_load": (
        lambda c, m: c["model"].__setitem__("init", {"_target_": "torch.load", "f": str(m)}),
        "model.init._target_",
        "torch.load",
    ),
}

CONFIG_READERS = ("evaluate", "load_checkpoint", "load_from_checkpoint", "resume_classes")


@pytest.mark.parametrize("reader", CONFIG_READERS)
@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_a_stored_target_emotion_lab_does_not_build_is_refused(
    tmp_path, trained, case, reader
) -> None:
    change, where, target = HOSTILE_CONFIGS[case]
    marker = tmp_path / "written.txt"
    path = _save(tmp_path / "best.ckpt", _with_config(trained, lambda c: change(c, marker)))
    message = _one_line_refusal(lambda: READERS[reader](path), marker)
    assert message == (
        f"ckpt_path='{path}': the stored config's {where} {target!r} is not one emotion-lab "
        "builds; nothing in the checkpoint was called"
    )


def test_an_interpolation_in_a_stored_config_stays_text(tmp_path, trained) -> None:
    """``${oc.create:...}`` would build a node at access time that no ``_target_`` check saw;
    a stored config is resolved, so its strings are read back as the text they are."""
    marker = tmp_path / "written.txt"
    smuggled = (
        "${oc.create:{_target_: emotion_lab.files.write_text, path: '" + str(marker) + "', "
        "text: x}}"
    )
    checkpoint = _with_config(trained, lambda c: c.__setitem__("optimizer", smuggled))
    checkpoint["emotion_lab"]["config"]["notes"] = "costs \\${x} and ${seed}"
    path = _save(tmp_path / "best.ckpt", checkpoint)
    stored = read_run_checkpoint(path).config
    assert stored.optimizer == smuggled
    assert stored.notes == "costs \\${x} and ${seed}"
    with pytest.raises(Exception):  # noqa: B017 - an optimizer that is text cannot be built
        emotion_lab.load_checkpoint(path)
    assert not marker.exists()


def test_evaluate_trusts_the_users_own_data_config(tmp_path, trained) -> None:
    """The stored parts are checked; a ``data=`` the user gives evaluate is theirs."""
    path = _save(tmp_path / "best.ckpt", trained)
    cfg = compose_config("evaluate", [f"ckpt_path={path}", "data=synthetic"])
    cfg.data.source._target_ = "my_lab.sources.MySource"
    run_cfg, _ = load_run_config(cfg)
    assert run_cfg.data.source._target_ == "my_lab.sources.MySource"


def _conf_targets() -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "_target_":
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for folder in (CONFIG_DIR, REPO / "sweeps"):
        for file in sorted(folder.rglob("*.yaml")):
            walk(yaml.safe_load(file.read_text()))
    return found


def test_the_allow_list_is_what_the_configs_build() -> None:
    """Every ``_target_`` of conf/ and sweeps/ is allowed, and CONFIG_TARGETS holds nothing else
    (a new config target goes into it; one that left conf/ moves to FORMER_TARGETS)."""
    targets = _conf_targets()
    assert len(targets) > 30
    assert sorted(t for t in targets if not built_target(t)) == []
    assert sorted(CONFIG_TARGETS - targets) == []
    assert not CONFIG_TARGETS & FORMER_TARGETS
    for target in targets:  # as the configs spell them: importable names of real objects
        assert re.fullmatch(r"[A-Za-z_][\w.]*", target), target


@pytest.mark.parametrize(
    ("target", "built"),
    [
        ("torch.optim.RMSprop", True),
        ("torch.optim.lr_scheduler.OneCycleLR", True),
        ("torch.optim.lr_scheduler.CosineAnnealingWarmRestarts", True),  # a former conf target
        ("torch.nn.CrossEntropyLoss", True),
        ("emotion_lab.optim.warmup_cosine", True),  # earlier versions' configs
        ("torch.load", False),
        ("torch.save", False),
        ("torch.hub.load", False),
        ("torch.nn.Module", False),
        ("torch.nn.Linear", False),
        ("torch.nn.functional.cross_entropy", False),
        ("torch.optim.lr_scheduler.LambdaLR.__init__", False),
        ("torch.optim._functional", False),
        ("builtins.open", False),
        ("builtins.eval", False),
        ("shutil.copyfile", False),
        ("os.system", False),
        ("emotion_lab.files.write_text", False),
        ("emotion_lab.data.synthetic_faces.write_csv", False),
        ("${oc.env:TARGET}", False),
        (None, False),
        (["torch.optim.SGD"], False),
    ],
)
def test_built_targets(target: object, built: bool) -> None:
    assert built_target(target) is built


def test_the_stored_config_round_trips(trained, tmp_path) -> None:
    """A config as training stores it reads back unchanged (resolved values, no escapes)."""
    path = _save(tmp_path / "best.ckpt", trained)
    config = OmegaConf.to_container(read_run_checkpoint(path).config, resolve=True)
    assert config == trained["emotion_lab"]["config"]
