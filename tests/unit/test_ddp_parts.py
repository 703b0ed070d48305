"""The pieces that keep DDP exact, tested one by one in one process.

The end-to-end proof with two gloo ranks is tests/e2e/test_ddp.py; these say which piece broke.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DistributedSampler

from emotion_lab.app.config import compose_config, gpu_else
from emotion_lab.callbacks import BestWeightsEarlyStopping
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.samplers import ContiguousShardSampler, shard_bounds
from emotion_lab.losses import EmotionLoss
from emotion_lab.metrics.outputs import TestOutputs
from tests.unit.test_datamodule import ArraySource, _split


@pytest.mark.parametrize("length,ranks", [(10, 2), (11, 2), (7, 3), (2, 4), (0, 2)])
def test_shards_partition_the_data_set_in_order(length: int, ranks: int) -> None:
    seen = [i for r in range(ranks) for i in ContiguousShardSampler(range(length), ranks, r)]
    assert seen == list(range(length))  # each sample once, in order: no padding
    sizes = [len(ContiguousShardSampler(range(length), ranks, r)) for r in range(ranks)]
    assert max(sizes) - min(sizes) <= 1
    assert shard_bounds(length, ranks, 0)[0] == 0


def test_shard_sampler_is_a_distributed_sampler_so_lightning_keeps_it() -> None:
    assert isinstance(ContiguousShardSampler(range(5), 2, 1), DistributedSampler)
    with pytest.raises(ValueError, match="rank"):
        shard_bounds(5, 2, 2)


def _attached_dm(world: int, rank: int, n_train: int, batch_size: int) -> EmotionDataModule:
    splits = {"train": _split([i % 3 for i in range(n_train)]), "test": _split([0, 1, 2] * 5)}
    dm = EmotionDataModule(
        source=partial(ArraySource, splits),
        image_size=20,
        channels=1,
        batch_size=batch_size,
        val_fraction=0.2,
    )
    dm.setup()
    dm.trainer = SimpleNamespace(world_size=world, global_rank=rank, training=False)  # type: ignore[assignment]
    return dm


def test_eval_loaders_under_ddp_use_unpadded_shards() -> None:
    dm = _attached_dm(world=2, rank=1, n_train=40, batch_size=8)
    loader = dm.test_dataloader()
    assert isinstance(loader.sampler, ContiguousShardSampler)
    assert sum(len(b[1]) for b in loader) == 7  # rank 1's half of 15, not 8 with a repeat
    assert dm.val_dataloader().sampler.num_replicas == 2  # type: ignore[attr-defined]


def test_single_process_eval_loaders_keep_the_plain_sequential_sampler() -> None:
    dm = _attached_dm(world=1, rank=0, n_train=40, batch_size=8)
    assert not isinstance(dm.test_dataloader().sampler, DistributedSampler)


@pytest.mark.parametrize("world,n_train", [(1, 40), (1, 42), (2, 40), (2, 43)])
def test_a_one_sample_last_training_batch_is_dropped(world: int, n_train: int) -> None:
    dm = _attached_dm(world=world, rank=0, n_train=n_train, batch_size=8)
    per_rank = -(-len(dm.splits["train"]) // world)  # Lightning pads training shards up
    assert dm.train_dataloader().drop_last is (per_rank % 8 == 1)


def test_the_drop_is_exercised_by_the_cases_above() -> None:
    remainders = {
        (-(-len(_attached_dm(w, 0, n, 8).splits["train"]) // w)) % 8 for w, n in [(1, 42), (2, 40)]
    }
    assert 1 in remainders


def _params_without_grad(module: torch.nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_every_trainable_loss_parameter_gets_a_gradient(beta: float) -> None:
    loss = EmotionLoss(num_classes=3, feat_dim=4, beta=beta, margin=2.0)
    embeddings = torch.randn(6, 4, requires_grad=True)
    logits = torch.randn(6, 3, requires_grad=True)
    loss(logits, embeddings, torch.tensor([0, 1, 2, 0, 1, 2]))["loss"].backward()
    assert _params_without_grad(loss) == []  # what DDP's reducer waits for
    assert loss.centers is not None and loss.centers.requires_grad is (beta > 0)


@pytest.mark.parametrize("truncate", [True, False])
def test_every_trainable_gram_parameter_gets_a_gradient(truncate: bool) -> None:
    cfg = compose_config(overrides=["model=gram_efficientnet_tiny", f"model.truncate={truncate}"])
    model = instantiate(cfg.model, num_classes=3)
    model.train()
    x = torch.randn(2, 3, 64, 64)
    model.forward_head(model.forward_features(x)).sum().backward()
    assert _params_without_grad(model) == []


def test_test_outputs_concatenate_steps_in_order() -> None:
    outputs = TestOutputs()
    outputs.update(torch.ones(2, 3, dtype=torch.bfloat16), torch.tensor([0, 1]), torch.rand(2, 4))
    outputs.update(torch.zeros(1, 3), torch.tensor([2]), torch.rand(1, 4))
    got = outputs.gathered()
    assert got["embeddings"].dtype == torch.float32 and got["embeddings"].shape == (3, 3)
    assert got["labels"].tolist() == [0, 1, 2]
    outputs.reset()
    outputs.update(torch.zeros(1, 3), torch.tensor([1]), torch.rand(1, 4))
    assert outputs.gathered()["labels"].tolist() == [1]  # one row stays a row


class _OtherRankSaysStop:
    """A strategy stand-in whose other rank has run out of patience."""

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return True if not all else decision


def test_early_stopping_follows_the_decision_reduced_over_ranks() -> None:
    stopper = BestWeightsEarlyStopping(monitor="val/acc", patience=5)
    trainer = SimpleNamespace(
        sanity_checking=False,
        callback_metrics={"val/acc": torch.tensor(0.5)},
        current_epoch=0,
        should_stop=False,
        strategy=_OtherRankSaysStop(),
    )
    stopper.on_validation_end(trainer, torch.nn.Linear(1, 1))  # type: ignore[arg-type]
    assert not trainer.should_stop  # an improvement: nothing to decide
    trainer.current_epoch = 1
    stopper.on_validation_end(trainer, torch.nn.Linear(1, 1))  # type: ignore[arg-type]
    assert trainer.should_stop  # wait 1 < patience here, but the other rank stops: all stop


def test_gpu_else_follows_the_accelerator() -> None:
    assert gpu_else("gpu", "bf16-mixed", "32-true") == "bf16-mixed"
    assert gpu_else("cpu", "bf16-mixed", "32-true") == "32-true"
    expected = "bf16-mixed" if torch.cuda.is_available() else "32-true"
    assert gpu_else("auto", "bf16-mixed", "32-true") == expected


def test_trainer_ddp_trains_like_trainer_gpu_on_gpus_and_like_cpu_otherwise() -> None:
    gpu = compose_config(overrides=["trainer=ddp", "trainer.accelerator=gpu"]).trainer
    cpu = compose_config(overrides=["trainer=ddp", "trainer.accelerator=cpu"]).trainer
    reference = compose_config(overrides=["trainer=gpu"]).trainer
    assert (gpu.precision, gpu.deterministic) == (reference.precision, reference.deterministic)
    assert (cpu.precision, cpu.deterministic) == ("32-true", True)


def test_ranks_above_zero_draw_their_own_random_stream() -> None:
    from emotion_lab.classifier.module import EmotionClassifier

    module = EmotionClassifier(
        model=torch.nn.Identity(),
        loss=EmotionLoss(num_classes=3, feat_dim=4),
        optimizer=partial(torch.optim.SGD, lr=0.1),
        classes=("a", "b", "c"),
    )
    draws = []
    for rank in (0, 1, 0):
        torch.manual_seed(42)
        module._trainer = SimpleNamespace(global_rank=rank)  # type: ignore[assignment]
        module.on_fit_start()
        draws.append(torch.rand(1).item())
    assert draws[0] == draws[2] != draws[1]


def test_splits_move_to_a_device_whole_and_unchanged() -> None:
    dm = _attached_dm(world=1, rank=0, n_train=40, batch_size=8)
    split = dm.splits["train"]
    moved = split.to_device(torch.device("cpu"), chunk=7)
    assert len(moved) == len(split) and moved.nbytes == split.nbytes
    rows = [3, 0, 17]
    assert torch.equal(moved.__getitems__(rows)[0], split.__getitems__(rows)[0])
    assert torch.equal(moved.labels, split.labels)


def test_resident_data_is_decided_from_the_trainer_device() -> None:
    from emotion_lab.data.datamodule import fits_on_device
    from emotion_lab.errors import ConfigError

    assert fits_on_device(4, 10) and not fits_on_device(6, 10)
    dm = _attached_dm(world=1, rank=0, n_train=40, batch_size=8)
    cpu = SimpleNamespace(
        world_size=1, global_rank=0, strategy=SimpleNamespace(root_device=torch.device("cpu"))
    )
    dm.trainer = cpu  # type: ignore[assignment]
    dm.setup("fit")  # auto on a CPU trainer: the splits stay where they are
    assert dm.resident_device is None
    dm.resident = True
    with pytest.raises(ConfigError, match="data.resident=true needs a GPU"):
        dm.setup("fit")
    with pytest.raises(ConfigError, match="data.resident must be"):
        EmotionDataModule(
            source=partial(ArraySource, {"train": _split([0, 1, 2])}),
            image_size=20,
            channels=1,
            resident="gpu",
        )
