"""Every option of every config group composes and instantiates."""

from __future__ import annotations

import inspect

import pytest
import torch
from hydra.utils import instantiate

from emotion_lab.app.config import CONFIG_DIR, compose_config


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def test_default_config_composes_with_contrastive_center_on():
    cfg = compose_config("train")
    assert cfg.data.name == "synthetic"
    assert cfg.loss.beta > 0 and cfg.loss.use_centers
    assert cfg.objective.metric == "val/acc"
    assert cfg.callbacks.model_checkpoint.mode == "max"


@pytest.mark.parametrize("data", ["synthetic", "fer2013", "rafdb", "folder"])
def test_size_and_channels_are_set_once_by_the_model(data):
    cfg = compose_config(
        "train", [f"data={data}", "data.root=x", "model=resemotenet", "model.input_size=80"]
    )
    assert (cfg.data.image_size, cfg.data.channels) == (80, cfg.model.in_chans)
    assert not {"image_size", "channels"} & set(cfg.data.source)


def test_objective_direction_drives_checkpoint_mode():
    cfg = compose_config("train", ["objective.metric=val/loss", "objective.direction=minimize"])
    assert cfg.callbacks.model_checkpoint.mode == "min"
    assert cfg.callbacks.model_checkpoint.monitor == "val/loss"
    with pytest.raises(Exception, match="objective.direction"):
        _ = compose_config(
            "train", ["objective.direction=sideways"]
        ).callbacks.model_checkpoint.mode


@pytest.mark.parametrize("name", options("loss"))
def test_loss_options(name):
    cfg = compose_config("train", [f"loss={name}"])
    loss = instantiate(cfg.loss, num_classes=7, feat_dim=16, class_counts=[5] * 7)
    terms = loss(torch.randn(4, 7), torch.randn(4, 16), torch.tensor([0, 1, 2, 3]))
    assert torch.isfinite(terms["loss"])


@pytest.mark.parametrize("name", options("optimizer"))
def test_optimizer_options(name):
    cfg = compose_config("train", [f"optimizer={name}"])
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = instantiate(cfg.optimizer)([param])
    param.sum().backward()
    optimizer.step()
    assert not torch.equal(param.detach(), torch.ones(3))


@pytest.mark.parametrize("name", options("scheduler"))
def test_scheduler_options(name):
    cfg = compose_config("train", [f"scheduler={name}"])
    assert cfg.scheduler.interval in ("epoch", "step")
    if cfg.scheduler.scheduler is None:
        return
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    factory = instantiate(cfg.scheduler.scheduler)
    hooks = {"total_steps": 10, "steps_per_epoch": 2}  # what the LightningModule hands over
    wanted = inspect.signature(factory).parameters
    kwargs = {key: value for key, value in hooks.items() if key in wanted}
    scheduler = factory(optimizer, **kwargs)
    optimizer.step()
    scheduler.step(1.0) if cfg.scheduler.monitor else scheduler.step()


@pytest.mark.parametrize("name", options("augmentation"))
def test_augmentation_options(name):
    cfg = compose_config("train", [f"augmentation={name}"])
    augment = instantiate(cfg.augmentation)
    x = torch.rand(4, 3, 32, 32)
    out = augment(x)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", options("init"))
def test_init_options(name):
    from emotion_lab.models import apply_initializer, create_model

    cfg = compose_config("train", [f"init={name}"])
    model = create_model("vire_cnn", num_classes=7, in_chans=1, input_size=48)
    apply_initializer(model, cfg.init.name)


@pytest.mark.parametrize("name", options("trainer"))
def test_trainer_options(name):
    cfg = compose_config("train", [f"trainer={name}"])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    if cfg.trainer.accelerator == "cpu" and cfg.trainer.get("strategy") in (None, "auto"):
        trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
        assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("name", options("logger"))
def test_logger_options(name, tmp_path):
    cfg = compose_config("train", [f"logger={name}"], output_dir=str(tmp_path))
    loggers = [instantiate(c) for c in cfg.logger.values()]
    assert any(type(lg).__name__ == "CSVLogger" for lg in loggers)


@pytest.mark.parametrize("name", options("callbacks"))
def test_callback_options(name, tmp_path):
    cfg = compose_config("train", [f"callbacks={name}"], output_dir=str(tmp_path))
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    assert callbacks


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment_options_compose(name):
    cfg = compose_config("train", [f"experiment={name}"])
    assert cfg.model.name and cfg.data.name


def test_every_lightning_trainer_flag_is_settable_without_plus():
    """conf/trainer/lightning.yaml lists the installed Trainer's flags at their own defaults."""
    import inspect

    from lightning.pytorch import Trainer

    built_elsewhere = {"self", "logger", "callbacks", "plugins"}
    signature = inspect.signature(Trainer.__init__).parameters
    flags = {n: p.default for n, p in signature.items() if n not in built_elsewhere}
    listed = compose_config("train", ["trainer=lightning"]).trainer
    assert set(listed) - {"_target_"} == set(flags)
    for name, default in flags.items():
        assert listed[name] == default, name
    cfg = compose_config(
        "train", ["trainer.accumulate_grad_batches=4", "trainer.max_time=00:02:00:00"]
    )
    assert cfg.trainer.accumulate_grad_batches == 4 and cfg.trainer.accelerator == "cpu"
