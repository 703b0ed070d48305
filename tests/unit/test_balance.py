"""S003's class balancing: minority classes topped up to target counts with augmented copies."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from lightning.pytorch.trainer.connectors.data_connector import _get_distributed_sampler
from lightning.pytorch.utilities.data import _update_dataloader

from emotion_lab.app.config import compose_config
from emotion_lab.data.balance import copy_sources, resolve_targets
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.transforms import BatchAugment, RandomHorizontalFlip
from emotion_lab.errors import ConfigError
from tests.unit.test_datamodule import CLASSES, ArraySource, _split

LABELS = [0] * 30 + [1] * 10 + [2] * 4  # a: 30, b: 10, c: 4
TARGETS = {"a": 10, "b": 25, "c": 12}  # a is above its target and keeps its 30
GOAL = [30, 25, 12]


def _mirror() -> BatchAugment:
    """An augmentation whose output is known exactly: every image mirrored."""
    return BatchAugment([RandomHorizontalFlip(p=1.0)])


def _balanced_dm(**kwargs) -> EmotionDataModule:
    splits = {"train": _split(LABELS), "val": _split([0, 1, 2]), "test": _split([0, 1, 2])}
    settings = {
        "image_size": 20,
        "channels": 1,
        "batch_size": 8,
        "augmentation": _mirror(),
        "balance": {"targets": TARGETS},
    } | kwargs
    dm = EmotionDataModule(source=partial(ArraySource, splits), **settings)
    dm.setup()
    return dm


def test_minority_classes_are_topped_up_to_their_targets_and_originals_kept() -> None:
    dm = _balanced_dm()
    train = dm.splits["train"]
    original, labels = _split(LABELS)
    n = len(LABELS)
    assert len(train) == sum(GOAL) == n + 15 + 8
    assert np.bincount(train.labels.numpy()).tolist() == GOAL
    images = train.images
    # the original images come first and are untouched
    assert torch.equal(images[:n], torch.from_numpy(original).permute(0, 3, 1, 2))
    assert torch.equal(train.labels[:n], torch.from_numpy(labels))
    # every copy is the mirror image of an original of its own class, and none is unaugmented
    sources = torch.from_numpy(original).permute(0, 3, 1, 2)
    for image, label in zip(images[n:], train.labels[n:].tolist(), strict=True):
        same_class = sources[torch.from_numpy(labels == label)]
        assert any(torch.equal(image, s.flip(-1)) for s in same_class)
        assert not any(torch.equal(image, s) for s in same_class)
    assert dm.class_balance is not None and dm.class_balance.added == 23
    assert dm.class_balance.before == (30, 10, 4) and dm.class_balance.after == tuple(GOAL)


def test_every_epoch_has_the_fixed_size_and_exact_composition() -> None:
    dm = _balanced_dm()
    for _ in range(2):
        labels = torch.cat([y for _, y in dm.train_dataloader()])
        assert np.bincount(labels.numpy()).tolist() == GOAL


def test_training_batches_are_not_augmented_again_when_balancing() -> None:
    dm = _balanced_dm()
    images, _ = next(iter(dm.train_dataloader()))
    assert torch.equal(dm.prepare_batch(images, train=True), images.float() / 255)
    plain = EmotionDataModule(
        source=partial(ArraySource, {"train": _split(LABELS)}),
        image_size=20,
        channels=1,
        augmentation=_mirror(),
    )
    assert torch.equal(plain.prepare_batch(images, train=True), images.float().flip(-1) / 255)


def test_class_weights_count_the_copies_unless_told_otherwise() -> None:
    assert _balanced_dm().class_counts() == GOAL
    original = _balanced_dm(balance={"targets": TARGETS, "weights_count_copies": False})
    assert original.class_counts() == [30, 10, 4]
    assert len(original.splits["train"]) == sum(GOAL)


def test_copies_spread_evenly_over_the_originals_of_a_class() -> None:
    labels = np.array([0] * 3 + [1] * 4)
    sources = copy_sources(labels, [3, 11], seed=0)  # class 1: 7 copies of 4 images
    used = np.bincount(sources, minlength=7)
    assert used[:3].tolist() == [0, 0, 0] and sorted(used[3:].tolist()) == [1, 2, 2, 2]
    assert resolve_targets("max", CLASSES, [5, 9, 2]) == [9, 9, 9]


def test_every_rank_builds_the_same_copies_and_lightning_shards_them() -> None:
    """Each DDP rank sets up its own data module (different global RNG state): the copies must be
    bit-identical, and Lightning's distributed sampler then splits the fixed-size set."""
    loaders, datasets = [], []
    for rank in (0, 1):
        torch.manual_seed(100 + rank)
        before = torch.random.get_rng_state()
        dm = _balanced_dm()
        assert torch.equal(torch.random.get_rng_state(), before)  # global stream left alone
        datasets.append(dm.splits["train"])
        loader = dm.train_dataloader()
        sampler = _get_distributed_sampler(
            loader, shuffle=True, overfit_batches=0, num_replicas=2, rank=rank, seed=7
        )
        loaders.append(_update_dataloader(loader, sampler))
    assert torch.equal(datasets[0].images, datasets[1].images)
    assert torch.equal(datasets[0].labels, datasets[1].labels)
    per_rank = [torch.cat([y for _, y in loader]) for loader in loaders]
    assert [len(y) for y in per_rank] == [34, 34]  # 67 padded to 68 by Lightning's sampler
    drawn = np.bincount(torch.cat(per_rank).numpy(), minlength=3) - np.array(GOAL)
    assert drawn.min() == 0 and drawn.sum() == 1  # each image once, plus the one pad


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"balance": {"targets": {"x": 5}}}, "data.balance.targets names unknown class"),
        ({"balance": {"targets": {"a": -1}}}, r"data.balance.targets.a must be an integer >= 0"),
        ({"balance": {"targets": [1, 2]}}, "data.balance.targets must be null, 'max' or"),
        ({"balance": {"target": {"a": 1}}}, "data.balance has unknown key"),
        ({"sampler": "balanced"}, "data.sampler=balanced both rebalance"),
        ({"augmentation": None}, "data.balance.targets needs an augmentation"),
    ],
)
def test_bad_balance_settings_name_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _balanced_dm(**kwargs)


def test_s003_uses_the_papers_targets_without_the_resampling_sampler() -> None:
    data = compose_config("train", ["experiment=s003_cnn4"]).data
    assert data.sampler == "random"
    assert dict(data.balance.targets) == {
        "happy": 7164,
        "neutral": 7000,
        "sad": 5000,
        "fear": 4000,
        "angry": 4100,
        "surprise": 4000,
        "disgust": 3500,
    }
