"""EfficientNetV2-S with Gram (style-statistics) modules on intermediate blocks (S000).

Forward hooks read the outputs of named backbone modules (``taps``). Each tap feeds a
:class:`GramModule` that mixes second-order channel statistics (a Gram matrix) with a plain
pooled projection; the modules' outputs are concatenated into the embedding that the
contrastive-center loss and the clustering analysis use. Tap widths are discovered by a dry
forward pass, so any timm backbone works once valid module names are given.

With ``truncate=True`` (default) the backbone stops at the last tap: a forward hook ends the
pass once every tap has fired, and modules that never run before that point (later blocks, the
backbone's head) are replaced by ``Identity`` so they hold no parameters. This saves compute
and keeps distributed training free of unused parameters. The early exit is a Python exception,
which ``torch.compile`` cannot trace through; set ``truncate=false`` to compile.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from .base import EmotionNet
from .registry import register_model
from .timm_model import create_timm_backbone

DEFAULT_TAPS = ("blocks.1.2", "blocks.2.3", "blocks.4.8")


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """G = F·Fᵀ/(H·W) per sample, B×C×H×W → B×C×C, accumulated in float32.

    Autocast would run the product in half precision, where sums over H·W positions lose
    precision; the result is cast back so the following Linear sees the input's dtype.
    """
    b, c, h, w = x.shape
    with torch.autocast(device_type=x.device.type, enabled=False):
        f = x.reshape(b, c, h * w).float()
        g = torch.bmm(f, f.transpose(1, 2)) / (h * w)
    return g.to(x.dtype)


FUSIONS = ("add", "concat", "multiply", "average")
"""How a Gram module joins its two branches: S000 adds them and compares the four (§III)."""


class GramModule(nn.Module):
    """C×H×W → C/2 (C with ``concat``): (Gram → Linear → SiLU → BN1d) joined by ``fusion``
    with (1×1 conv → SiLU → global average pool)."""

    def __init__(self, channels: int, fusion: str = "add") -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ParameterError("fusion", fusion, f"must be one of {', '.join(FUSIONS)}")
        out = max(1, channels // 2)
        self.gram_fc = nn.Linear(channels * channels, out)
        self.gram_bn = nn.BatchNorm1d(out)
        self.proj = nn.Conv2d(channels, out, kernel_size=1)
        self.fusion = fusion
        self.out_features = 2 * out if fusion == "concat" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        style = self.gram_bn(F.silu(self.gram_fc(gram_matrix(x).flatten(1))))
        content = F.silu(self.proj(x)).mean(dim=(2, 3))
        if self.fusion == "concat":
            return torch.cat([style, content], dim=1)
        if self.fusion == "multiply":
            return style * content
        if self.fusion == "average":
            return (style + content) / 2
        return style + content


class _AllTapsSeen(Exception):
    """Raised from a hook to end the backbone pass once nothing more is needed from it."""


class _TapStore:
    """Outputs of the tapped modules for the current forward pass."""

    def __init__(self, names: Sequence[str], stop_early: bool) -> None:
        self.names = tuple(names)
        self.stop_early = stop_early
        self.outputs: dict[str, torch.Tensor] = {}


class _TapHook:
    """A forward hook (a picklable, deep-copyable object rather than a closure)."""

    def __init__(self, store: _TapStore, name: str) -> None:
        self.store = store
        self.name = name

    def __call__(self, module: nn.Module, args: Any, output: Any) -> None:
        self.store.outputs[self.name] = output
        if self.store.stop_early and len(self.store.outputs) == len(self.store.names):
            raise _AllTapsSeen


def _readable(names: list[str], limit: int = 40) -> str:
    """Collapse numbered siblings: blocks.1.0, blocks.1.1, blocks.1.2 → blocks.1.0-2."""
    groups: dict[str, list[int]] = {}
    out: list[str] = []
    for name in names:
        match = re.fullmatch(r"(.*\.)?(\d+)", name)
        if match is None:
            out.append(name)
            continue
        prefix = match.group(1) or ""
        if prefix not in groups:
            groups[prefix] = []
            out.append(prefix)  # placeholder keeps the original order
        groups[prefix].append(int(match.group(2)))
    rendered = []
    for item in out:
        if item in groups:
            nums = groups.pop(item)
            span = str(nums[0]) if len(nums) == 1 else f"{min(nums)}-{max(nums)}"
            rendered.append(f"{item}{span}")
        else:
            rendered.append(item)
    if len(rendered) > limit:
        rendered = rendered[:limit] + [f"... ({len(rendered) - limit} more)"]
    return ", ".join(rendered)


def _check_taps(backbone: nn.Module, taps: Sequence[str], arch: str) -> None:
    names = [n for n, _ in backbone.named_modules() if n]
    known = set(names)
    if not taps:
        raise ParameterError("taps", list(taps), "give at least one backbone module name")
    if len(set(taps)) != len(taps):
        raise ParameterError("taps", list(taps), "names a module twice")
    for tap in taps:
        if tap not in known:
            raise ParameterError(
                "taps",
                list(taps),
                f"{tap!r} is not a module of {arch}; "
                f"candidates: {_readable(_neighbours(tap, names))}",
            )


def _neighbours(tap: str, names: list[str]) -> list[str]:
    """Names a user probably meant: every block at that depth for numbered blocks
    (``blocks.1.7`` → all ``blocks.i.j``), else the children of the deepest existing parent."""
    depth = tap.count(".")
    if tap.rsplit(".", 1)[-1].isdigit():
        first = tap.split(".")[0]
        peers = [n for n in names if n.count(".") == depth and n.split(".")[0] == first]
        if peers:
            return peers
    parent = tap
    while parent and parent not in names:
        parent = parent.rpartition(".")[0]
    while True:  # climb past leaves so the list is never empty
        prefix = parent + "." if parent else ""
        children = [n for n in names if n.startswith(prefix) and "." not in n[len(prefix) :]]
        if children or not parent:
            return children
        parent = parent.rpartition(".")[0]


@register_model("gram_efficientnet")
class GramEfficientNet(EmotionNet):
    """Backbone taps → one Gram module each → concatenated embedding → linear classifier.

    Defaults are S000's: ``tf_efficientnetv2_s`` tapped at ``blocks.1.2`` (48 ch),
    ``blocks.2.3`` (64) and ``blocks.4.8`` (160), giving a 24+32+80 = 136-d embedding.
    ``pretrained``/``checkpoint_path`` fill the backbone as for the ``timm`` model (the
    backbone's ImageNet head is dropped); ``fusion`` joins each module's two branches (``add``,
    the paper's; ``concat`` doubles the embedding to 272-d); extra kwargs go to
    ``timm.create_model``.
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        input_size: int = 224,
        backbone: str = "tf_efficientnetv2_s",
        taps: Sequence[str] = DEFAULT_TAPS,
        pretrained: bool = False,
        checkpoint_path: str | None = None,
        truncate: bool = True,
        fusion: str = "add",
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ParameterError("fusion", fusion, f"must be one of {', '.join(FUSIONS)}")
        taps = [str(t) for t in taps]
        net = create_timm_backbone(
            backbone,
            num_classes=0,
            in_chans=in_chans,
            input_size=input_size,
            pretrained=pretrained,
            checkpoint_path=checkpoint_path,
            **timm_kwargs,
        )
        _check_taps(net, taps, backbone)
        self.backbone = net
        self.taps = tuple(taps)
        self._store = _TapStore(taps, stop_early=truncate)
        for tap in taps:
            net.get_submodule(tap).register_forward_hook(_TapHook(self._store, tap))

        probe = torch.zeros(1, in_chans, input_size, input_size)
        self._store.stop_early = True  # which modules run before the last tap
        executed = self._probe(probe, track=True)
        self._store.stop_early = truncate
        if truncate:
            self._prune(executed)
            self._probe(probe, track=False)  # the pruned backbone must still reach every tap
        else:
            self._freeze_unused(executed)
        channels = [int(self._store.outputs[t].shape[1]) for t in taps]
        self._store.outputs.clear()

        self.gram = nn.ModuleList(GramModule(c, fusion) for c in channels)
        self.embedding_dim = sum(m.out_features for m in self.gram)
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    def _run_backbone(self, x: torch.Tensor) -> list[torch.Tensor]:
        self._store.outputs.clear()
        run = getattr(self.backbone, "forward_features", self.backbone)
        with contextlib.suppress(_AllTapsSeen):
            run(x)
        outputs = [self._store.outputs.pop(t, None) for t in self.taps]
        missing = [t for t, o in zip(self.taps, outputs, strict=True) if o is None]
        if missing:
            raise RuntimeError(f"taps: {missing} did not run during the backbone's forward")
        return outputs  # type: ignore[return-value]

    @torch.no_grad()
    def _probe(self, x: torch.Tensor, track: bool) -> set[str]:
        """Dry forward: records tap shapes and, if ``track``, which modules ran before the stop."""
        executed: set[str] = set()
        handles = []
        if track:
            for name, module in self.backbone.named_modules():
                handles.append(module.register_forward_pre_hook(lambda *_, n=name: executed.add(n)))
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            outputs = self._run_backbone(x)
        finally:
            self.backbone.train(was_training)
            for handle in handles:
                handle.remove()
        for tap, out in zip(self.taps, outputs, strict=True):
            if not isinstance(out, torch.Tensor) or out.dim() != 4:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ParameterError(
                    "taps", list(self.taps), f"{tap!r} outputs {shape}; a Gram module needs B×C×H×W"
                )
            self._store.outputs[tap] = out
        return executed

    def _prune(self, executed: set[str]) -> None:
        """Swap every module subtree that never ran before the last tap for an Identity."""
        needed = set()
        for name in executed:
            parts = name.split(".") if name else []
            needed.update(".".join(parts[:i]) for i in range(len(parts) + 1))
        for name, _ in list(self.backbone.named_modules()):
            if not name or name in needed:
                continue
            parent, _, child = name.rpartition(".")
            if parent in needed:
                setattr(self.backbone.get_submodule(parent), child, nn.Identity())

    def _freeze_unused(self, executed: set[str]) -> None:
        """Modules after the last tap still run (one traceable graph) but feed nothing: without
        gradients they would stall DDP's reduction, so their parameters stop requiring them."""
        for name, module in self.backbone.named_modules():
            if name and name not in executed:
                for param in module.parameters(recurse=False):
                    param.requires_grad_(False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        maps = self._run_backbone(x)
        return torch.cat([m(f) for m, f in zip(self.gram, maps, strict=True)], dim=1)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.classifier(embedding)
