"""One data path for every data set: memory-mapped uint8 caches, batches built by indexing.

A ``DataSource`` (see ``formats/``) decodes each split once into a uint8 cache; the array at the
model's size and channels is cached too (``variants.py``), and the splits are views of those
memory maps, so parallel trials and DDP ranks share one copy through the page cache. This module
cuts a stratified validation split (or a fold) as an index, never a copy, and hands out whole
batches through ``__getitems__`` so that no per-sample Python work sits between the cache and
the model; a batch copies only its own images. Scaling, augmentation, the crop from
``data.decode_size`` to the model's size and normalisation run on the batch on its device.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler

from emotion_lab.data.balance import (
    ClassBalance,
    augmented_copies,
    check_targets,
    copy_sources,
    resolve_targets,
)
from emotion_lab.data.class_match import label_map
from emotion_lab.data.crops import check_margin, check_resize
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.base import DataSource, ImageSet
from emotion_lab.data.formats.decode import DEFAULT_MAX_PIXELS, check_max_pixels
from emotion_lab.data.samplers import ContiguousShardSampler, per_rank_length
from emotion_lab.data.transforms import BatchAugment
from emotion_lab.data.variants import model_array
from emotion_lab.errors import ConfigError

log = logging.getLogger(__name__)

SamplerKind = Literal["random", "balanced"]


class InMemoryImages(Dataset):
    """uint8 N×C×H×W images with int64 labels; a list of indices returns a whole batch at once.

    The images are one or more ``parts`` (views of cache memory maps: one split, or train and
    val pooled for cross-validation) and ``index`` picks this data set's rows from them, so
    cutting, pooling and folding copy no image. ``labels`` are this data set's, in order.

    ``targets`` (float N×C, optional) are soft labels, one row per image of the parts like
    ``labels``: batches then carry them instead of ``labels``, which stay the hard labels
    (their argmax) that samplers, stratification and class counts use.
    """

    def __init__(
        self,
        images: torch.Tensor | Sequence[torch.Tensor],
        labels: torch.Tensor,
        index: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> None:
        self.parts = (images,) if isinstance(images, torch.Tensor) else tuple(images)
        self._starts = list(itertools.accumulate((len(p) for p in self.parts), initial=0))
        if len(labels) != self._starts[-1]:
            raise ValueError(f"{self._starts[-1]} images but {len(labels)} labels")
        if targets is not None and (targets.dim() != 2 or len(targets) != len(labels)):
            raise ValueError(
                f"targets must be N×C for {len(labels)} labels: {tuple(targets.shape)}"
            )
        self._all_labels = labels
        self._all_targets = targets
        self.index = index  # rows of the parts, in order; None = all of them
        self.labels = labels if index is None else labels[index]
        self.targets = targets if targets is None or index is None else targets[index]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def images(self) -> torch.Tensor:
        """All images as one tensor: a copy, for inspection; training reads batches."""
        return self._gather(self._rows(torch.arange(len(self))))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        targets = self.labels if self.targets is None else self.targets
        return self._gather(self._rows(torch.tensor([index])))[0], targets[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        targets = self.labels if self.targets is None else self.targets
        return self._gather(self._rows(idx)), targets[idx]

    def subset(self, indices: np.ndarray | torch.Tensor) -> InMemoryImages:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return InMemoryImages(self.parts, self._all_labels, self._rows(idx), self._all_targets)

    def concat(self, other: InMemoryImages) -> InMemoryImages:
        """Both data sets, this one's rows first, still without copying images; when only one
        has soft targets, the other's labels join them as one-hot rows."""
        rows = torch.cat(
            [
                self._rows(torch.arange(len(self))),
                other._rows(torch.arange(len(other))) + self._starts[-1],
            ]
        )
        labels = torch.cat([self._all_labels, other._all_labels])
        targets = None
        if self._all_targets is not None or other._all_targets is not None:
            width = next(t for t in (self._all_targets, other._all_targets) if t is not None)
            targets = torch.cat([part._soft_rows(width.shape[1]) for part in (self, other)])
        return InMemoryImages((*self.parts, *other.parts), labels, rows, targets)

    def _soft_rows(self, num_classes: int) -> torch.Tensor:
        """Targets of every row of the parts: the soft ones, or the labels one-hot."""
        if self._all_targets is not None:
            return self._all_targets
        return nn.functional.one_hot(self._all_labels, num_classes).float()

    def _rows(self, idx: torch.Tensor) -> torch.Tensor:
        return idx if self.index is None else self.index[idx]

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.parts[0].shape[1:]))

    def to_device(self, device: torch.device, chunk: int = 4096) -> InMemoryImages:
        """This data set as one tensor on ``device``, filled in chunks so that the host never
        holds more than a chunk beyond the (shared, memory-mapped) cache."""
        out = torch.empty((len(self), *self.parts[0].shape[1:]), dtype=torch.uint8, device=device)
        for start in range(0, len(self), chunk):
            rows = self._rows(torch.arange(start, min(start + chunk, len(self))))
            out[start : start + len(rows)] = self._gather(rows).to(device, non_blocking=False)
        # labels (and soft targets) stay on the host: samplers count them, batches move them
        return InMemoryImages(out, self.labels, targets=self.targets)

    def _gather(self, rows: torch.Tensor) -> torch.Tensor:
        """The images at ``rows`` of the concatenated parts, as one contiguous batch."""
        if len(self.parts) == 1:
            return self.parts[0][rows.to(self.parts[0].device)].contiguous()
        out = torch.empty((len(rows), *self.parts[0].shape[1:]), dtype=torch.uint8)
        for part, lo, hi in zip(self.parts, self._starts, self._starts[1:], strict=False):
            mask = (rows >= lo) & (rows < hi)
            if bool(mask.any()):
                out[mask] = part[rows[mask] - lo]
        return out


def fits_on_device(needed: int, free: int, share: float = 0.5) -> bool:
    """Whether splits of ``needed`` bytes leave the model at least ``1 - share`` of ``free``."""
    return needed <= share * free


def _keep_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


class EmotionDataModule(pl.LightningDataModule):
    def __init__(
        self,
        source: Callable[..., DataSource],
        image_size: int,
        channels: int,
        name: str = "data",
        root: str | None = None,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        sampler: SamplerKind = "random",
        augmentation: nn.Module | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        fold: int | None = None,
        num_folds: int | None = None,
        on_bad_sample: str = "error",
        resident: bool | str = "auto",
        decode_size: int | None = None,
        decode_workers: int | None = None,
        allow_overlap: bool = False,
        balance: Mapping[str, Any] | None = None,
        val_from: Sequence[str] | None = None,
        resize: str = "stretch",
        crop: Mapping[str, Any] | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        allow_outside_root: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if image_size < 8:
            raise ConfigError(f"model.input_size must be >= 8, got {image_size}")
        if channels not in (1, 3):
            raise ConfigError(f"model.in_chans must be 1 or 3, got {channels}")
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        if sampler not in ("random", "balanced"):
            raise ConfigError(f"data.sampler must be 'random' or 'balanced', got {sampler!r}")
        self.balance_targets, self.weights_count_copies = _balance_settings(balance)
        if self.balance_targets is not None and sampler == "balanced":
            raise ConfigError(
                "data.balance.targets and data.sampler=balanced both rebalance the classes: "
                "choose one"
            )
        if self.balance_targets is not None and augmentation is None:
            raise ConfigError(
                "data.balance.targets needs an augmentation to make the added copies differ"
            )
        self.val_from = _val_from(val_from)
        if self.val_from is not None and num_folds is not None:
            raise ConfigError("data.val_from and data.num_folds cannot be set together")
        if (fold is None) != (num_folds is None):
            raise ConfigError("data.fold and data.num_folds must be set together")
        if num_folds is not None and not 0 <= fold < num_folds:  # type: ignore[operator]
            raise ConfigError(f"data.fold must be in [0, {num_folds}), got {fold}")
        if resident not in (True, False, "auto"):
            raise ConfigError(f"data.resident must be true, false or auto, got {resident!r}")
        if on_bad_sample not in ("error", "skip"):
            raise ConfigError(
                f"data.on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}"
            )
        is_int = isinstance(decode_size, int) and not isinstance(decode_size, bool)
        if decode_size is not None and not (is_int and decode_size >= image_size):
            raise ConfigError(
                f"data.decode_size must be null or an integer >= model.input_size "
                f"({image_size}), got {decode_size!r}"
            )
        self.decode_size = decode_size
        self.image_size = image_size
        # The source is a factory so that the bad-sample policy, the size images are decoded
        # at and the decoding pool are data-level keys, whatever the format.
        settings = _accepted(
            source,
            on_bad_sample=on_bad_sample,
            image_size=self.stored_size,
            channels=channels,
            decode_workers=decode_workers,
            allow_overlap=allow_overlap,
            resize=check_resize(resize),
            margin=_crop_margin(crop),
            max_pixels=check_max_pixels(max_pixels),
            allow_outside_root=bool(allow_outside_root),
        )
        try:
            self.source = source(**settings)
        except TypeError as err:
            raise _unknown_source_option(source, err) from None
        self.name = name
        self.root = root  # where the data set lives; sources reference it, summaries print it
        self.image_size = image_size
        self.channels = channels
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.sampler_kind = sampler
        self.class_balance: ClassBalance | None = None
        """Training class counts before and after balancing; None when nothing rebalances."""
        self.augmentation = augmentation
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.resident = resident
        self.resident_device: torch.device | None = None  # set once the splits live on a GPU
        self.fold = fold
        self.num_folds = num_folds
        self._mean = self._stat("data.mean", mean, channels)
        self._std = self._stat("data.std", std, channels)
        self.splits: dict[str, InMemoryImages] = {}
        self._model_classes: tuple[str, ...] | None = None  # see adopt_classes
        self._label_map: torch.Tensor | None = None
        self.skipped: dict[str, int] = {}
        """Bad samples skipped per split on disk (``on_bad_sample=skip``), plus ``no split``:
        rows whose split could not be told, counted once. Empty when nothing was skipped."""
        self.skip_reasons: dict[str, list[str]] = {}
        """The first reasons (up to 20) per split, for ``python -m emotion_lab.data``."""

    @staticmethod
    def _stat(key: str, values: Sequence[float] | None, channels: int) -> torch.Tensor | None:
        if values is None:
            return None
        t = torch.as_tensor(list(values), dtype=torch.float32)
        if t.numel() == 1:
            t = t.repeat(channels)
        if t.numel() != channels:
            raise ConfigError(
                f"{key} has {t.numel()} values but the model takes {channels} channels"
            )
        if key == "data.std" and bool((t <= 0).any()):
            raise ConfigError(f"{key} must be > 0, got {t.tolist()}")
        return t.view(1, channels, 1, 1)

    @property
    def classes(self) -> tuple[str, ...]:
        return self._model_classes or tuple(self.source.classes)

    def adopt_classes(self, trained: Sequence[str]) -> None:
        """Score a model trained on ``trained`` here, where this set's classes are an ordered
        subset of them: labels become the model's indices and ``classes`` the model's list.
        Call before :meth:`setup`."""
        if self.splits:
            raise RuntimeError("adopt_classes must come before setup")
        own = tuple(self.source.classes)
        self._label_map = torch.tensor(label_map(trained, own), dtype=torch.int64)
        self._model_classes = tuple(trained)

    def describe(self) -> dict[str, Any]:
        """What the source says of itself (release folder, id table, split policy, what was
        left out), for the summary, the run's logged config and ``python -m emotion_lab.data``."""
        describe = getattr(self.source, "describe", None)
        info: dict[str, Any] = dict(describe()) if callable(describe) else {"set": self.name}
        info.setdefault("classes", list(self.classes))
        return info

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def stored_size(self) -> int:
        """Side of the images kept in the cache: ``data.decode_size`` or the model's input."""
        return self.decode_size or self.image_size

    def _load(self, split: str) -> InMemoryImages:
        """One split on disk as a view of its cache at the stored size and the model's channels."""
        data: ImageSet = self.source.load(split)  # type: ignore[arg-type]
        if data.skipped or data.unassigned:
            self.skip_reasons[split] = list(data.skip_reasons)
        if data.skipped:
            self.skipped[split] = data.skipped
        if data.unassigned:
            self.skipped["no split"] = data.unassigned
        array = model_array(data, self.stored_size, self.channels)
        with warnings.catch_warnings():
            # the memory map is read-only and stays so: batches are copies
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            images = torch.from_numpy(array).permute(0, 3, 1, 2)
        labels = torch.from_numpy(np.asarray(data.labels, dtype=np.int64))
        if self._label_map is not None:
            labels = self._label_map[labels]
        if split == "train" and data.skipped and self._model_classes is None:
            self._check_classes_left(labels, data)
        targets = None if data.targets is None else torch.from_numpy(data.targets)
        return InMemoryImages(images, labels, targets=targets)

    def _check_classes_left(self, labels: torch.Tensor, data: ImageSet) -> None:
        counts = torch.bincount(labels, minlength=self.num_classes)
        empty = [c for c, n in zip(self.classes, counts.tolist(), strict=False) if n == 0]
        if empty:
            raise DataError(
                f"{data.source}: no training images left for class(es) {', '.join(empty)} after "
                f"skipping {data.skipped} bad samples (first: {data.skip_reasons[0]})"
            )

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self._build_splits()
        self._place_on_device()

    def _place_on_device(self) -> None:
        """Keep the uint8 splits on the trainer's GPU when they fit (``data.resident``).

        Batches are then cut by indexing on the device: no host-to-device copy per step. The
        splits take at most half of the GPU memory free at start-up; each rank holds its copy.
        """
        trainer = self.trainer
        if self.resident is False or self.resident_device is not None or trainer is None:
            return
        device = trainer.strategy.root_device
        if device.type != "cuda":
            if self.resident is True:
                raise ConfigError(
                    f"data.resident=true needs a GPU trainer; this one runs on {device}"
                )
            return
        if self.num_workers > 0:
            if self.resident is True:
                raise ConfigError(
                    "data.resident=true needs data.num_workers=0 (workers cannot index GPU memory)"
                )
            return
        needed = sum(split.nbytes for split in {id(s): s for s in self.splits.values()}.values())
        free, _ = torch.cuda.mem_get_info(device)
        if not fits_on_device(needed, free):
            if self.resident is True:
                raise ConfigError(
                    f"data.resident=true: the splits take {needed / 1e9:.1f} GB, more than half "
                    f"of the {free / 1e9:.1f} GB free on {device}"
                )
            log.info("data stays in host memory: %.1f GB of splits", needed / 1e9)
            return
        placed: dict[int, InMemoryImages] = {}
        for name, split in self.splits.items():  # test may be val itself: move it once
            placed.setdefault(id(split), split.to_device(device))
            self.splits[name] = placed[id(split)]
        self.resident_device = device
        log.info("data resident on %s: %.2f GB", device, needed / 1e9)

    def _build_splits(self) -> None:
        self.skipped, self.skip_reasons = {}, {}
        available = set(self.source.available_splits())
        if "train" not in available:
            where = getattr(self.source, "path", None) or getattr(self.source, "root", None)
            present = ", ".join(sorted(available)) or "none"
            raise DataError(
                f"{where or type(self.source).__name__}: the data set has no train split "
                f"(splits present: {present})"
            )
        train = self._load("train")
        test = self._load("test") if "test" in available else None
        if self.num_folds is not None:
            pool = train if "val" not in available else train.concat(self._load("val"))
            train, test = self._fold(pool)
            train, val = self._cut_val(train)
        elif self.val_from is not None:
            val = self._pooled_val(available, test)
            if "test" in self.val_from:
                log.info("data.val_from includes test: the test stage evaluates on val")
                test = val
        elif "val" in available:
            val = self._load("val")
        else:
            train, val = self._cut_val(train)
        if test is None:
            log.warning("no test split on disk: evaluating the test stage on the validation split")
            test = val
        self.splits = {"train": train, "val": val, "test": test}
        self._check_labels()
        self._balance()

    def _pooled_val(self, available: set[str], test: InMemoryImages | None) -> InMemoryImages:
        """The on-disk splits ``data.val_from`` names, pooled in that order, as the validation
        split (S001 validates on FER2013's PublicTest + PrivateTest, val + test here)."""
        assert self.val_from is not None
        missing = [s for s in self.val_from if s not in available]
        if missing:
            present = ", ".join(sorted(available)) or "none"
            raise DataError(
                f"data.val_from names split(s) {', '.join(missing)} that {self.name} does not "
                f"have on disk (splits present: {present})"
            )
        parts = [test if s == "test" and test is not None else self._load(s) for s in self.val_from]
        pooled = parts[0]
        for part in parts[1:]:
            pooled = pooled.concat(part)
        return pooled

    def _balance(self) -> None:
        """Top the training classes up to ``data.balance.targets`` with augmented copies (S003),
        or record what the balanced sampler draws per epoch; see ``balance.py``."""
        train = self.splits["train"]
        counts = torch.bincount(train.labels, minlength=self.num_classes).tolist()
        if self.sampler_kind == "balanced":
            share = len(train) / self.num_classes
            self.class_balance = ClassBalance(
                self.classes, tuple(counts), (share,) * self.num_classes, "sampler"
            )
            return
        if self.balance_targets is None:
            return
        goal = resolve_targets(self.balance_targets, self.classes, counts)
        sources = copy_sources(train.labels.numpy(), goal, self.split_seed)
        if len(sources):
            copies = augmented_copies(
                lambda rows: train.__getitems__(rows)[0],
                sources,
                lambda x: self._augment(x, self.stored_size),
                self.split_seed,
            )
            soft = None if train.targets is None else train.targets[torch.as_tensor(sources)]
            copies_set = InMemoryImages(copies, train.labels[sources], targets=soft)
            self.splits["train"] = train.concat(copies_set)
        self.class_balance = ClassBalance(self.classes, tuple(counts), tuple(goal), "copies")
        log.info(
            "data.balance: %d augmented copies added to %d training images (%s)",
            len(sources),
            len(train),
            ", ".join(f"{c} {n} → {g}" for c, n, g in zip(self.classes, counts, goal, strict=True)),
        )

    def _check_labels(self) -> None:
        for name, split in self.splits.items():
            if len(split) == 0:
                raise DataError(f"{type(self.source).__name__}: the {name} split is empty")
            top = int(split.labels.max())
            if top >= self.num_classes:
                raise DataError(f"{name} split has label {top} but only {self.num_classes} classes")

    def _cut_val(self, train: InMemoryImages) -> tuple[InMemoryImages, InMemoryImages]:
        labels = train.labels.numpy()
        counts = np.bincount(labels, minlength=self.num_classes)
        if len(labels) < 2:
            raise DataError(
                f"{self.name}: {len(labels)} training image(s) cannot give a validation split"
            )
        present = int((counts > 0).sum())
        n_val = int(np.ceil(self.val_fraction * len(labels)))
        # stratifying needs two images per class and at least one per class on either side
        can_stratify = counts[counts > 0].min() >= 2 and min(n_val, len(labels) - n_val) >= present
        stratify = labels if can_stratify else None
        idx_train, idx_val = train_test_split(
            np.arange(len(labels)),
            test_size=self.val_fraction,
            random_state=self.split_seed,
            stratify=stratify,
        )
        return train.subset(np.sort(idx_train)), train.subset(np.sort(idx_val))

    def _fold(self, pool: InMemoryImages) -> tuple[InMemoryImages, InMemoryImages]:
        folds = StratifiedKFold(n_splits=self.num_folds, shuffle=True, random_state=self.split_seed)  # type: ignore[arg-type]
        labels = pool.labels.numpy()
        idx_train, idx_test = list(folds.split(np.zeros(len(labels)), labels))[self.fold]  # type: ignore[index]
        return pool.subset(idx_train), pool.subset(idx_test)

    def class_counts(self) -> list[int]:
        """Training images per class, what ``loss.class_weights=balanced`` weighs by: with
        ``data.balance`` the topped-up counts, or the original ones when
        ``data.balance.weights_count_copies`` is false."""
        self.setup()
        balance = self.class_balance
        if balance is not None and balance.how == "copies" and not self.weights_count_copies:
            return list(balance.before)
        return np.bincount(self.splits["train"].labels.numpy(), minlength=self.num_classes).tolist()

    def _sampler(self) -> Sampler[int] | None:
        if self.sampler_kind == "random":
            return None
        labels = self.splits["train"].labels
        counts = torch.bincount(labels, minlength=self.num_classes).clamp(min=1).double()
        # Oversample rare classes to parity; augmentation makes the repeats differ.
        return WeightedRandomSampler(
            (1.0 / counts)[labels], num_samples=len(labels), replacement=True
        )

    def _world(self) -> tuple[int, int]:
        """(number of ranks, this rank) of the attached trainer; (1, 0) outside DDP."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _loader(self, split: str, batch_size: int, train: bool) -> DataLoader:
        dataset = self.splits[split]
        world, rank = self._world()
        sampler: Sampler[int] | None
        if train:
            sampler = self._sampler()
            # A last batch of one sample breaks BatchNorm in training mode; each rank sees
            # ceil(n / ranks) samples under Lightning's padded sampler.
            drop_last = per_rank_length(len(dataset), world) % batch_size == 1
        else:
            # Unpadded, contiguous shards: gathered test outputs hold each sample once, in order.
            sampler = ContiguousShardSampler(dataset, world, rank) if world > 1 else None
            drop_last = False
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and self.resident_device is None,
            persistent_workers=self.num_workers > 0,
            collate_fn=_keep_batch,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, train=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    def on_after_batch_transfer(
        self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        return self.prepare_batch(images, train=training), labels

    def prepare_batch(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        """uint8 batch → float in [0, 1] → augmentation (training only) → normalisation.

        With ``data.balance.targets`` the augmentation made the added copies once, in
        ``setup``; training batches then pass unaugmented, as the paper's ``fit`` saw them.
        """
        x = images.float().div_(255)
        if train and self.balance_targets is None:
            x = self._augment(x, self.image_size)
        return self.normalize(self._center_crop(x))

    def _augment(self, x: torch.Tensor, out_size: int) -> torch.Tensor:
        """``augmentation`` on a float batch; ops that crop produce ``out_size``."""
        if self.augmentation is None:
            return x
        if isinstance(self.augmentation, BatchAugment):
            return self.augmentation(x, out_size=out_size)
        return self.augmentation(x)

    def _center_crop(self, x: torch.Tensor) -> torch.Tensor:
        """Images kept at ``data.decode_size`` reach the model's size by a central crop (what
        evaluation does after a resize to the shorter side); a no-op otherwise."""
        side = self.image_size
        h, w = x.shape[-2:]
        if (h, w) == (side, side):
            return x
        top, left = (h - side) // 2, (w - side) // 2
        return x[..., top : top + side, left : left + side]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        # The statistics move to the batch's device once and stay there: no copy per batch.
        if self._mean is not None:
            if self._mean.device != x.device:
                self._mean = self._mean.to(x.device)
            x = x - self._mean
        if self._std is not None:
            if self._std.device != x.device:
                self._std = self._std.to(x.device)
            x = x / self._std
        return x


def _balance_settings(balance: Mapping[str, Any] | None) -> tuple[Any, bool]:
    """(targets, weights_count_copies) from ``data.balance``; null or no targets = off."""
    settings = dict(balance or {})
    unknown = sorted(set(settings) - {"targets", "weights_count_copies"})
    if unknown:
        raise ConfigError(
            f"data.balance has unknown key(s) {', '.join(unknown)} "
            "(known: targets, weights_count_copies)"
        )
    count_copies = settings.get("weights_count_copies", True)
    if not isinstance(count_copies, bool):
        raise ConfigError(
            f"data.balance.weights_count_copies must be true or false, got {count_copies!r}"
        )
    return check_targets(settings.get("targets")), count_copies


def _unknown_source_option(source: Callable[..., Any], err: TypeError) -> Exception:
    """A ``data.source`` option its reader does not take (``experiment=smoke`` sets the
    built-in set's ``n``; on ``data=folder`` that is no option) as one line naming the key;
    any other TypeError is a bug and stays one."""
    found = re.search(r"unexpected keyword argument '(\w+)'", str(err))
    if found is None:
        return err
    target = source.func if isinstance(source, functools.partial) else source
    name = getattr(target, "__qualname__", repr(target))
    option = found.group(1)
    return ConfigError(
        f"data.source.{option}: {name} takes no option {option!r} (an experiment written for "
        f"another data set may set it; drop it with ~data.source.{option})"
    )


def _crop_margin(crop: Mapping[str, Any] | None) -> float:
    """``data.crop.margin`` (0 without a ``crop`` node), checked."""
    settings = dict(crop or {})
    unknown = sorted(set(settings) - {"margin"})
    if unknown:
        raise ConfigError(f"data.crop has unknown key(s) {', '.join(unknown)} (known: margin)")
    return check_margin(settings.get("margin", 0.0))


def _val_from(val_from: Sequence[str] | None) -> tuple[str, ...] | None:
    """``data.val_from`` as a tuple of distinct split names among val and test, or None."""
    if val_from is None:
        return None
    if isinstance(val_from, str):
        val_from = [val_from]
    names = tuple(str(s) for s in val_from)
    bad = [s for s in names if s not in ("val", "test")]
    if not names or bad or len(set(names)) != len(names):
        raise ConfigError(
            f"data.val_from must be null or a list of distinct splits among val and test, "
            f"got {list(names)}"
        )
    return names


def _accepted(factory: Callable[..., DataSource], **offered: Any) -> dict[str, Any]:
    """The data-level settings ``factory`` takes (``on_bad_sample`` always): an in-memory
    source has no decode size or pool to set. A reader class whose ``__init__`` passes
    ``**kwargs`` on takes what the ``__init__`` of each base takes."""
    names: set[str] = set()
    for params in _signatures(factory):
        names |= {n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    else:
        return offered
    return {k: v for k, v in offered.items() if k in names or k == "on_bad_sample"}


def _signatures(factory: Callable[..., Any]) -> list[Mapping[str, inspect.Parameter]]:
    """Parameters of ``factory``, then (for a class, or a partial of one) of each base's
    ``__init__`` in method resolution order."""
    target = factory.func if isinstance(factory, functools.partial) else factory
    try:
        out: list[Mapping[str, inspect.Parameter]] = [inspect.signature(factory).parameters]
    except (TypeError, ValueError):
        return [{}]
    if isinstance(target, type):
        for base in target.__mro__[1:]:
            init = base.__dict__.get("__init__")
            if init is not None and base is not object:
                out.append(inspect.signature(init).parameters)
    return out
