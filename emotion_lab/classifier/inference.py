"""A trained checkpoint as a ready model: ``emotion_lab.load_checkpoint(path)``.

The checkpoint holds the run's resolved config and its classes, so the network is rebuilt from
``model`` and the images are prepared the way the training batches were: decoded like the data
set's source decoded them (grey for FER2013-style sources; PIL's Lanczos resize for sources that
decode at the stored size), resized and converted like the datamodule's variants, scaled to
[0, 1], centre-cropped from ``data.decode_size`` and normalised with ``data.mean``/``data.std``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_object
from omegaconf import DictConfig

from emotion_lab.classifier.build import build_classifier
from emotion_lab.classifier.checkpoint import read_run_checkpoint
from emotion_lab.classifier.module import EmotionClassifier
from emotion_lab.data.crops import ResizeMode, check_resize
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.decode import decode_image, decode_problem
from emotion_lab.data.transforms import convert_channels, resize_uint8
from emotion_lab.models.checkpoint import load_strict

# Sources that read FER2013's CSV: 48×48 grey at any model size; the datamodule converts them.
_GREY_SOURCES = (
    "emotion_lab.data.formats.fer2013_csv.Fer2013Csv",
    "emotion_lab.data.synthetic_faces.SyntheticFer2013",
)


@dataclass(frozen=True)
class Preprocess:
    """Image files → the float batch the model was trained on (N×C×S×S, normalised).

    ``decode_mode`` is the PIL mode images are decoded in; ``decode_at_size`` says whether the
    training source resized while decoding (Lanczos) or the datamodule resized the decoded
    array (antialiased bilinear, ``resize_uint8``).
    """

    image_size: int
    stored_size: int
    channels: int
    decode_mode: str
    decode_at_size: bool
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: ResizeMode = "stretch"  # data.resize of the training run: the same aspect rule

    @classmethod
    def from_config(cls, cfg: DictConfig) -> Preprocess:
        data = cfg.data
        image_size, channels = int(data.image_size), int(data.channels)
        grey = _source_is_grey(data.get("source"))
        return cls(
            image_size=image_size,
            stored_size=int(data.get("decode_size") or image_size),
            channels=channels,
            decode_mode="L" if grey or channels == 1 else "RGB",
            decode_at_size=not grey,
            mean=_stat(data.get("mean"), channels),
            std=_stat(data.get("std"), channels),
            resize=check_resize(str(data.get("resize") or "stretch")),
        )

    def load(self, paths: Sequence[str | Path]) -> torch.Tensor:
        """Decode image files into a uint8 N×C×S×S batch at the stored size and model channels;
        an unreadable file is a one-line :class:`DataError` naming it."""
        size = self.stored_size if self.decode_at_size else None
        images = []
        for path in paths:
            try:
                array = decode_image(Path(path), self.decode_mode, size, resize=self.resize)
            except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files
                raise DataError(f"{path}: {decode_problem(Path(path), err)}") from err
            chw = torch.from_numpy(np.array(array)).permute(2, 0, 1)[None]
            images.append(resize_uint8(convert_channels(chw, self.channels), self.stored_size))
        if not images:
            return torch.empty(
                (0, self.channels, self.stored_size, self.stored_size), dtype=torch.uint8
            )
        return torch.cat(images)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N×C×S×S (from :meth:`load`) → float, centre crop, normalisation."""
        x = images.float().div(255)
        side = self.image_size
        h, w = x.shape[-2:]
        top, left = (h - side) // 2, (w - side) // 2
        x = x[..., top : top + side, left : left + side]
        if self.mean is not None:
            x = x - torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        if self.std is not None:
            x = x / torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return x


@dataclass
class TrainedModel:
    """What a notebook needs from a checkpoint: the module in eval mode, its classes, the
    preprocessing of its training batches and the run config it was trained with."""

    model: EmotionClassifier
    classes: tuple[str, ...]
    preprocess: Preprocess
    config: DictConfig

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of a preprocessed float batch."""
        device = next(self.model.parameters()).device
        return self.model(images.to(device)).float().cpu()

    def predict(self, paths: Sequence[str | Path]) -> torch.Tensor:
        """Class probabilities (N×classes) of image files."""
        return self.logits(self.preprocess(self.preprocess.load(paths))).softmax(dim=1)


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", key: str = "ckpt_path"
) -> TrainedModel:
    """Rebuild the trained module of an emotion-lab checkpoint, in eval mode.

    No data set is read: the module is built to receive the checkpoint's weights (see
    :func:`~emotion_lab.classifier.build.build_classifier`).
    """
    stored = read_run_checkpoint(path, key)
    module = build_inference_module(stored.config, stored.classes)
    load_strict(module, stored.checkpoint["state_dict"], f"{key}={str(path)!r}")
    module.eval().to(map_location)
    return TrainedModel(
        module, stored.classes, Preprocess.from_config(stored.config), stored.config
    )


def build_inference_module(cfg: DictConfig, classes: tuple[str, ...]) -> EmotionClassifier:
    """An untrained :class:`EmotionClassifier` of ``cfg``'s architecture, ready for its weights."""
    return build_classifier(EmotionClassifier, cfg, classes, for_weights=True)


def _source_is_grey(source: Any) -> bool:
    """Whether the training source decoded FER2013's faces (grey, fixed size) rather than files
    at the model's size: a source that takes no ``image_size`` (``sets.fer2013.Fer2013`` in
    either form, ``sets.ferplus.FerPlus``) keeps 48×48 grey."""
    target = str((source or {}).get("_target_", ""))
    if target in _GREY_SOURCES:
        return True
    if target == "emotion_lab.data.catalog.dataset_source":
        # checkpoints of the former catalogue: its only grey, fixed-size set was FER2013's CSV
        return str(source.get("name")) == "fer2013"
    try:
        params = inspect.signature(get_object(target)).parameters
    except Exception:  # noqa: BLE001 - an unimportable target: assume it decodes files
        return False
    return "image_size" not in params


def _stat(values: Any, channels: int) -> tuple[float, ...] | None:
    if values is None:
        return None
    out = tuple(float(v) for v in (values if isinstance(values, Sequence) else [values]))
    return out * channels if len(out) == 1 else out
