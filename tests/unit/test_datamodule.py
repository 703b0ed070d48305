"""EmotionDataModule over a small in-memory data source: splits, resizing, sampling, checks."""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
import pytest
import torch

from emotion_lab.callbacks.analysis import per_class_report
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.formats.base import ImageSet, Split

CLASSES = ("a", "b", "c")


class ArraySource:
    """A DataSource over arrays: ``splits`` maps split name → (images N×H×W×C, labels)."""

    def __init__(self, splits: dict[str, tuple[np.ndarray, np.ndarray]], on_bad_sample="error"):
        self.splits = splits
        self.classes = CLASSES

    def available_splits(self) -> tuple[Split, ...]:
        return tuple(s for s in ("train", "val", "test") if s in self.splits)  # type: ignore[misc]

    def load(self, split: Split) -> ImageSet:
        images, labels = self.splits[split]
        return ImageSet(images, labels.astype(np.int64), CLASSES, f"arrays ({split})")


def _split(labels: list[int], side: int = 20, channels: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (len(labels), side, side, channels), dtype=np.uint8)
    return images, np.asarray(labels)


def _dm(splits, **kwargs) -> EmotionDataModule:
    settings = {"image_size": 20, "channels": 1, "batch_size": 16} | kwargs
    dm = EmotionDataModule(source=partial(ArraySource, splits), **settings)
    dm.setup()
    return dm


def test_missing_val_split_is_cut_stratified_and_reproducibly() -> None:
    labels = [0] * 60 + [1] * 30 + [2] * 10
    splits = {"train": _split(labels), "test": _split([0, 1, 2])}
    dm = _dm(splits, val_fraction=0.2, split_seed=3)
    assert len(dm.splits["val"]) == 20 and len(dm.splits["train"]) == 80
    assert np.bincount(dm.splits["val"].labels.numpy()).tolist() == [12, 6, 2]
    again = _dm(splits, val_fraction=0.2, split_seed=3)
    assert torch.equal(again.splits["val"].images, dm.splits["val"].images)
    other = _dm(splits, val_fraction=0.2, split_seed=4)
    assert not torch.equal(other.splits["val"].images, dm.splits["val"].images)


def test_images_are_resized_and_converted_to_what_the_model_takes() -> None:
    splits = {s: _split([0, 1, 2, 0], side=20) for s in ("train", "val", "test")}
    dm = _dm(splits, image_size=32, channels=3, mean=[0.5], std=[0.25])
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 32, 32)
    x = dm.prepare_batch(images, train=False)
    assert x.dtype == torch.float32
    # gray replicated to RGB, then normalised per channel with the one value broadcast
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    expected = (images[:, :1].float() / 255 - 0.5) / 0.25
    assert torch.allclose(x[:, :1], expected)


def test_balanced_sampler_oversamples_rare_classes_to_parity() -> None:
    labels = [0] * 900 + [1] * 90 + [2] * 10
    splits = {s: _split(labels if s == "train" else [0, 1, 2]) for s in ("train", "val", "test")}
    torch.manual_seed(0)
    drawn = torch.cat([y for _, y in _dm(splits, sampler="balanced").train_dataloader()])
    shares = np.bincount(drawn.numpy(), minlength=3) / len(drawn)
    assert len(drawn) == 1000 and np.abs(shares - 1 / 3).max() < 0.05
    plain = torch.cat([y for _, y in _dm(splits).train_dataloader()])
    assert np.bincount(plain.numpy()).tolist() == [900, 90, 10]  # an epoch sees each image once


def test_no_test_split_evaluates_on_val(caplog: pytest.LogCaptureFixture) -> None:
    splits = {s: _split([0, 1, 2, 1]) for s in ("train", "val")}
    with caplog.at_level(logging.WARNING):
        dm = _dm(splits)
    assert dm.splits["test"] is dm.splits["val"]
    assert "no test split on disk" in caplog.text


def test_label_outside_the_classes_is_refused() -> None:
    splits = {s: _split([0, 1, 5]) for s in ("train", "val", "test")}
    with pytest.raises(ValueError, match="split has label 5 but only 3 classes"):
        _dm(splits)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "data.batch_size must be >= 1"),
        ({"sampler": "weighted"}, "data.sampler must be 'random' or 'balanced'"),
        ({"val_fraction": 1.5}, r"data.val_fraction must be in \(0, 1\)"),
        ({"mean": [0.1, 0.2]}, "data.mean has 2 values but the model takes 1 channels"),
        ({"std": [0.0]}, "data.std must be > 0"),
        ({"fold": 1}, "data.fold and data.num_folds must be set together"),
        ({"fold": 3, "num_folds": 3}, r"data.fold must be in \[0, 3\)"),
        ({"channels": 2}, "model.in_chans must be 1 or 3"),
    ],
)
def test_nonsense_settings_name_the_key(kwargs: dict, message: str) -> None:
    splits = {s: _split([0, 1, 2]) for s in ("train", "val", "test")}
    with pytest.raises(ValueError, match=message):
        _dm(splits, **kwargs)


def test_per_class_report_by_hand() -> None:
    # rows = truth: a: 3 right, 1 called b; b: 2 right; c: never predicted, 1 called a
    confusion = np.array([[3, 1, 0], [0, 2, 0], [1, 0, 0]])
    a, b, c = per_class_report(confusion, CLASSES)
    assert a == pytest.approx(
        {"class": "a", "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    )
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0
    assert b["f1"] == pytest.approx(0.8)
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)


def test_decode_size_keeps_larger_images_and_crops_them_to_the_model_size() -> None:
    from emotion_lab.data.transforms import BatchAugment, RandomResizedCrop

    splits = {s: _split([0, 1, 2, 0], side=32) for s in ("train", "val", "test")}
    crop = BatchAugment([RandomResizedCrop(scale=(0.5, 1.0))])
    dm = _dm(splits, image_size=24, decode_size=32, augmentation=crop)
    images, _ = next(iter(dm.test_dataloader()))
    assert images.shape == (4, 1, 32, 32)  # the cache keeps the decode size
    x = dm.prepare_batch(images, train=False)
    assert x.shape == (4, 1, 24, 24)
    assert torch.equal(x, images[..., 4:28, 4:28].float() / 255)  # evaluation: the central crop
    torch.manual_seed(0)
    y = dm.prepare_batch(images, train=True)
    assert y.shape == (4, 1, 24, 24)  # training: a random crop of the whole image at 24
    assert not torch.allclose(y, x)
    with pytest.raises(ValueError, match=r"data.decode_size must be null or an integer >= "):
        _dm(splits, image_size=24, decode_size=16)


@pytest.mark.parametrize("data", ["caers", "emoset118k", "fi8", "webemo"])
def test_s000_experiments_crop_from_256_pixel_images(data: str, tmp_path) -> None:
    from emotion_lab.app.config import compose_config

    cfg = compose_config("train", [f"experiment=s000_{data}"], output_dir=str(tmp_path))
    assert cfg.data.decode_size == 256 and cfg.model.input_size == 224
    tiny = compose_config("train", ["experiment=s000_synthetic"], output_dir=str(tmp_path))
    assert tiny.data.decode_size is None


def test_val_from_pools_the_named_on_disk_splits_in_order(caplog: pytest.LogCaptureFixture) -> None:
    splits = {
        "train": _split([0, 1, 2] * 4),
        "val": _split([0, 1, 1], seed=1),
        "test": _split([2, 2, 0, 1], seed=2),
    }
    with caplog.at_level(logging.INFO):
        dm = _dm(splits, val_from=["val", "test"])
    val = dm.splits["val"]
    assert val.labels.tolist() == [0, 1, 1, 2, 2, 0, 1]
    expected = np.concatenate([splits["val"][0], splits["test"][0]])
    assert torch.equal(val.images, torch.from_numpy(expected).permute(0, 3, 1, 2))
    assert dm.splits["test"] is val  # the evaluation set is the pooled one
    assert len(dm.splits["train"]) == 12  # nothing cut from train
    assert "data.val_from includes test" in caplog.text
    only_val = _dm(splits, val_from=["val"])
    assert len(only_val.splits["val"]) == 3 and len(only_val.splits["test"]) == 4


def test_val_from_a_split_missing_on_disk_names_the_key() -> None:
    from emotion_lab.data.errors import DataError

    splits = {"train": _split([0, 1, 2] * 4), "val": _split([0, 1, 2])}
    with pytest.raises(DataError, match=r"data.val_from names split\(s\) test .*present: train"):
        _dm(splits, val_from=["val", "test"])


@pytest.mark.parametrize("val_from", [[], ["train"], ["val", "val"]])
def test_val_from_takes_distinct_val_and_test_only(val_from: list[str]) -> None:
    from emotion_lab.errors import ConfigError

    splits = {s: _split([0, 1, 2]) for s in ("train", "val", "test")}
    with pytest.raises(ConfigError, match="data.val_from must be null or a list of distinct"):
        _dm(splits, val_from=val_from)


@pytest.mark.parametrize("model", ["alexnet", "cnn", "densenet"])
def test_s001_validates_on_public_and_private_test(model: str, tmp_path) -> None:
    from emotion_lab.app.config import compose_config
    from emotion_lab.data.formats.fer2013_csv import USAGE_TO_SPLIT

    for name in (f"s001_vire_{model}", f"s001_vire_{model}_phase1"):
        cfg = compose_config("train", [f"experiment={name}"], output_dir=str(tmp_path))
        assert list(cfg.data.val_from) == ["val", "test"]
    assert (USAGE_TO_SPLIT["publictest"], USAGE_TO_SPLIT["privatetest"]) == ("val", "test")
