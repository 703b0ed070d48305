"""Any timm architecture as an emotion-lab model (S002 uses ``resnetv2_50`` and ViT-B/16).

Pretrained weights come either from timm's hub (``pretrained=True``, needs network or a warm
cache) or from a local file (``checkpoint_path``), which is how offline machines get ImageNet
weights: download the timm checkpoint elsewhere and point ``model.checkpoint_path`` at it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import timm
import torch
from torch import nn

from ..errors import ParameterError, UserError
from .base import EmotionNet
from .checkpoint import load_backbone_weights, read_state_dict
from .registry import register_model

log = logging.getLogger(__name__)


class PretrainedWeightsUnavailable(UserError, RuntimeError):
    """``pretrained=true`` without network or cached weights: fixable by a local weight file,
    so the entry points print it as one line (S002's experiments start pretrained)."""


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)  # type: ignore[union-attr]


def _instantiate(model_name: str, pretrained: bool, kwargs: dict[str, Any]) -> nn.Module:
    try:
        return timm.create_model(model_name, pretrained=pretrained, **kwargs)
    except TypeError as exc:
        # Only token/window models take img_size; others reject it, so retry without.
        if "img_size" in kwargs and "img_size" in str(exc):
            rest = {k: v for k, v in kwargs.items() if k != "img_size"}
            return timm.create_model(model_name, pretrained=pretrained, **rest)
        raise


def create_timm_backbone(
    model_name: str,
    *,
    num_classes: int,
    in_chans: int,
    input_size: int,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a timm model at ``input_size`` and fill it with hub or local weights.

    ``checkpoint_path`` wins over ``pretrained``: the hub is not contacted when a file is given.
    A file's classifier is dropped when its class count differs, and a 3-channel stem is adapted
    to ``in_chans``; any other mismatch is an error naming the first offending key.
    """
    if not timm.is_model(model_name):
        raise ParameterError("model_name", model_name, "is not a timm architecture")
    kwargs = {"num_classes": num_classes, "in_chans": in_chans, "img_size": input_size, **kwargs}
    use_hub = pretrained and checkpoint_path is None
    try:
        model = _instantiate(model_name, use_hub, kwargs)
    except OSError as exc:  # offline: DNS/connection errors and hub cache misses are all OSError
        raise PretrainedWeightsUnavailable(
            f"model.pretrained=true: cannot fetch {model_name} weights from the timm hub "
            f"({type(exc).__name__}); download them and set model.checkpoint_path=<file>, or "
            "train from scratch with model.pretrained=false"
        ) from exc
    if checkpoint_path is not None:
        source = f"checkpoint_path={str(checkpoint_path)!r}"
        state = read_state_dict(checkpoint_path, "checkpoint_path")
        # timm's per-architecture converter, e.g. ViT position-embedding resampling to img_size
        convert = getattr(sys.modules[type(model).__module__], "checkpoint_filter_fn", None)
        if convert is not None:
            state = convert(state, model)
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        load_backbone_weights(
            model,
            state,
            source=source,
            parameter="checkpoint_path",
            head_prefixes=_as_tuple(cfg.get("classifier")),
            first_convs=_as_tuple(cfg.get("first_conv")),
        )
    return model


@register_model("timm")
class TimmClassifier(EmotionNet):
    """A timm model; embedding = timm's pre-logits vector, logits = its own classifier on it.

    Extra keyword arguments (``drop_rate``, ``drop_path_rate``, ``global_pool``, …) go straight to
    ``timm.create_model``. ``input_size`` becomes ``img_size`` for models that take one (ViT).
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        input_size: int = 224,
        model_name: str = "resnet18",
        pretrained: bool = False,
        checkpoint_path: str | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.backbone = create_timm_backbone(
            model_name,
            num_classes=num_classes,
            in_chans=in_chans,
            input_size=input_size,
            pretrained=pretrained,
            checkpoint_path=checkpoint_path,
            **timm_kwargs,
        )
        width = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.embedding_dim = int(width)
        if not isinstance(self.backbone.get_classifier(), nn.Module):
            raise ParameterError(
                "model_name",
                model_name,
                "its classifier is not one module (e.g. a distilled two-head model), "
                "which emotion-lab cannot split off",
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        head = self.backbone.get_classifier()
        if isinstance(head, nn.Conv2d):  # 1×1-conv classifiers (ResNetV2) want a 1×1 map
            return head(embedding[:, :, None, None]).flatten(1)
        return head(embedding)
