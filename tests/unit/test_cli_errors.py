"""Bad config values and unreadable checkpoints are one line naming the key; bugs keep tracebacks."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from emotion_lab.app.checks import check_config, check_train_config
from emotion_lab.app.config import CONFIG_DIR, compose_config
from emotion_lab.app.entry import one_line_errors, user_error_of
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.errors import (
    CheckpointError,
    ConfigError,
    MissingFileError,
    ParameterError,
    UserError,
)
from emotion_lab.evaluate import load_run_config
from emotion_lab.models.checkpoint import read_checkpoint
from emotion_lab.run.builders import build_module

REPO = Path(__file__).resolve().parents[2]


def test_data_errors_belong_to_the_user_error_family():
    assert issubclass(DataError, UserError) and issubclass(DataError, ValueError)
    assert issubclass(DatasetNotFoundError, UserError)
    assert issubclass(DatasetNotFoundError, FileNotFoundError)


@pytest.mark.parametrize(
    ("exc", "is_user_error"),
    [
        (ConfigError("optimizer.lr: expected a number"), True),
        (DataError("train.csv:3: 2303 pixels"), True),
        (ValueError("a bug's ValueError"), False),
        (RuntimeError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_only_user_errors_are_reported_as_one_line(exc, is_user_error):
    assert (user_error_of(exc) is not None) == is_user_error


def test_a_constructor_refusing_its_config_value_is_a_user_error_and_its_bugs_are_not():
    wrapped = InstantiationException("Error in call to target 'x'")
    wrapped.__cause__ = ConfigError("model.width=0: must be > 0")
    assert str(user_error_of(wrapped)) == "model.width=0: must be > 0"
    for cause in (TypeError("unexpected keyword"), ValueError("a bug's ValueError")):
        bug = InstantiationException("Error in call to target 'x'")
        bug.__cause__ = cause
        assert user_error_of(bug) is None


def _classes(n: int) -> SimpleNamespace:
    return SimpleNamespace(
        num_classes=n, classes=tuple(f"c{i}" for i in range(n)), class_counts=lambda: [5] * n
    )


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.input_size=8", "model.input_size=8: vire_cnn needs >= 10"),
        ("model=cnn4", "model.input_size=48: too small for 6 pooling stages"),
        ("loss.center_form=cosine", "loss.center_form='cosine': must be 'margin' or 'ratio'"),
        ("loss.margin=-1", "loss.margin=-1: must be >= 0"),
        ("init.name=xavier", "init.name='xavier': is not a known initializer"),
        ("model=vit_b16", "model.arch='nope': is not a known model"),
    ],
)
def test_the_config_layer_names_the_key_of_a_refused_constructor_argument(override, named):
    """Models, losses and initializers name their parameter; building them from a config
    section puts the section in front, so the message names the key to change."""
    extra = {"model=cnn4": ["model.channels=[8,8,8,8,8,8]"], "model=vit_b16": ["model.arch=nope"]}
    cfg = compose_config("train", [override, *extra.get(override, [])], output_dir="outputs/x")
    with pytest.raises(ParameterError) as info:
        build_module(cfg, _classes(3))
    assert str(info.value).startswith(named)
    assert user_error_of(info.value) is info.value


@pytest.mark.parametrize("model", ["resemotenet", "timm"])
def test_the_config_layer_names_the_key_of_a_missing_weight_file(model, tmp_path):
    missing = tmp_path / "absent.pth"
    cfg = compose_config(
        "train",
        [f"model={model}", f"model.checkpoint_path={missing}", "init=default"],
        output_dir="o",
    )
    with pytest.raises(MissingFileError) as info:
        build_module(cfg, _classes(3))
    assert str(info.value) == f"model.checkpoint_path='{missing}': no such checkpoint file"
    assert user_error_of(info.value) is info.value


def test_keyed_errors_keep_their_key_across_processes():
    """A failed trial's error is pickled to the sweeper; the key must survive the trip."""
    import pickle

    for error in (
        ParameterError("margin", -1.0, "must be >= 0"),
        MissingFileError("checkpoint_path='a.pth': no such file", parameter="checkpoint_path"),
    ):
        keyed = error.under("loss")
        back = pickle.loads(pickle.dumps(keyed))
        assert type(back) is type(error) and str(back) == str(keyed) == f"loss.{error}"
        assert back.parameter == f"loss.{error.parameter}"
    assert ConfigError("seed: expected an integer").under("model").args == (
        "seed: expected an integer",
    )  # no parameter: the message already names its key


def test_an_initializer_over_pretrained_weights_is_refused_by_check_and_builder():
    cfg = compose_config(
        "train", ["model=vit_b16", "model.pretrained=true", "init=he_normal"], output_dir="o"
    )
    named = "init=he_normal would overwrite the pretrained weights of model.vit_b16"
    with pytest.raises(ConfigError, match=named):
        check_config(cfg)
    with pytest.raises(ConfigError, match=named):  # before any weights are fetched
        build_module(cfg, _classes(3))


def test_an_internal_bug_keeps_its_traceback_and_exit_code(tmp_path) -> None:
    """A plain ValueError is a bug, not bad input, even from a constructor Hydra instantiates
    from the config: it keeps its traceback and does not exit with the user-error code 2."""
    import subprocess
    import sys

    script = tmp_path / "bug.py"
    script.write_text(
        "import runpy, sys\n"
        "from emotion_lab.models import registry\n"
        "def broken(**kwargs):\n"
        "    raise ValueError('an internal bug')\n"
        "registry._REGISTRY['vire_cnn'] = broken\n"
        "sys.argv = ['train', 'experiment=smoke', 'logger=csv', f'hydra.run.dir={sys.argv[1]}']\n"
        "runpy.run_module('emotion_lab.train', run_name='__main__')\n"
    )
    unset = ("EMOTION_LAB_DEBUG", "HYDRA_FULL_ERROR")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "run")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode not in (0, 2), proc.stderr[-2000:]
    assert "Traceback" in proc.stderr and "ValueError: an internal bug" in proc.stderr
    assert "error: an internal bug" not in proc.stderr


def test_one_line_errors_exits_2_with_one_line_and_keeps_bug_tracebacks(capsys, monkeypatch):
    monkeypatch.delenv("EMOTION_LAB_DEBUG", raising=False)

    @one_line_errors
    def bad_input() -> None:
        raise ConfigError("trainer.max_epochs: expected an integer,\n got 'abc'")

    @one_line_errors
    def bug() -> None:
        raise ValueError("not the user's fault")

    with pytest.raises(SystemExit) as info:
        bad_input()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: trainer.max_epochs: expected an integer, got 'abc'\n"
    with pytest.raises(ValueError, match="not the user's fault"):
        bug()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optimizer.lr='nan'", "optimizer.lr: expected a number, got 'nan'"),
        ("optimizer.lr=nan", "optimizer.lr: expected a finite number"),
        ("optimizer.lr=-1", "optimizer.lr=-1: must be > 0"),
        ("trainer.max_epochs=abc", "trainer.max_epochs: expected an integer, got 'abc'"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0: must be >= 1"),
        ("trainer.max_epochs=1.5", "trainer.max_epochs: expected an integer"),
        ("data.batch_size=abc", "data.batch_size: expected an integer, got 'abc'"),
        ("data.batch_size=0", "data.batch_size=0: must be >= 1"),
        ("seed=x", "seed: expected an integer, got 'x'"),
        ("trainer.limit_train_batches=0", "trainer.limit_train_batches=0: must be >= 1"),
        ("+optimizer.betas=[0.9]", "optimizer.betas: expected two numbers"),
        ("scheduler.interval=hourly", "scheduler.interval: expected one of"),
        ("objective.direction=sideways", "objective.direction"),
        ("cv.folds=1", "cv.folds=1: must be >= 2"),
        ("loss.beta=true", "loss.beta: expected a number, got True"),
    ],
)
def test_typed_check_names_the_key(override, named):
    cfg = compose_config("train", [override])
    with pytest.raises(ConfigError) as info:
        check_config(cfg)
    assert named in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_mandatory_value_names_its_key():
    cfg = OmegaConf.create({"ckpt_path": "???", "seed": 1})
    with pytest.raises(ConfigError, match=r"^ckpt_path: Missing mandatory value"):
        check_config(cfg)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml")))
def test_every_shipped_experiment_passes_the_check(name):
    check_config(compose_config("train", [f"experiment={name}"]))


def _real_checkpoint(path: Path) -> Path:
    torch.save({"state_dict": {"w": torch.ones(64, 64)}, "epoch": 1}, path)
    return path


def test_resume_checkpoint_that_is_text_or_truncated_names_ckpt_path(tmp_path):
    text = tmp_path / "last.ckpt"
    text.write_text("this is not a checkpoint\n")
    truncated = _real_checkpoint(tmp_path / "cut.ckpt")
    data = truncated.read_bytes()
    assert zipfile.is_zipfile(truncated)
    truncated.write_bytes(data[: len(data) // 2])
    for bad in (text, truncated):
        cfg = compose_config("train", [f"ckpt_path={bad}"])
        with pytest.raises(CheckpointError) as info:
            check_train_config(cfg)
        message = str(info.value)
        assert message.startswith(f"ckpt_path='{bad}': not a readable checkpoint (")
        assert "\n" not in message
    with pytest.raises(MissingFileError, match="ckpt_path='.*absent.ckpt': no such"):
        read_checkpoint(tmp_path / "absent.ckpt", "ckpt_path")
    assert read_checkpoint(_real_checkpoint(tmp_path / "ok.ckpt"), "ckpt_path")["epoch"] == 1


def test_evaluate_refuses_text_and_foreign_checkpoints_by_key(tmp_path):
    text = tmp_path / "best.ckpt"
    text.write_text("hello\n")
    cfg = compose_config("evaluate", [f"ckpt_path={text}"])
    with pytest.raises(CheckpointError, match=r"^ckpt_path='.*best.ckpt': not a readable"):
        load_run_config(cfg)
    foreign = _real_checkpoint(tmp_path / "foreign.ckpt")
    cfg = compose_config("evaluate", [f"ckpt_path={foreign}"])
    with pytest.raises(CheckpointError, match="not an emotion-lab checkpoint"):
        load_run_config(cfg)
    with pytest.raises(ConfigError, match="^ckpt_path: Missing mandatory value"):
        load_run_config(compose_config("evaluate"))


def test_an_override_hydra_cannot_apply_is_one_line_naming_the_key() -> None:
    from emotion_lab.app.entry import composition_problem

    assert composition_problem("train", ["optimizer.lr=0.01"]) is None
    problem = composition_problem("train", ["optimizer.lrr=1"])
    assert problem is not None and "optimizer.lrr" in problem and "\n" not in problem
    problem = composition_problem("train", ["model=nope"])
    assert problem is not None and "model/nope" in problem


def test_the_train_command_exits_2_with_one_line_for_an_unknown_key(tmp_path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "emotion_lab.train", "optimizer.lrr=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "optimizer.lrr" in lines[0]
    assert not any(tmp_path.iterdir())  # refused before any run folder was made
