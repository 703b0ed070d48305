"""Batch-level image transforms with per-sample randomness.

Images stay uint8 in memory and become float only after the batch reaches its device, so each op
here takes and returns a float batch B×C×H×W in [0, 1]. Geometric ops are one ``affine_grid`` +
``grid_sample`` for the whole batch (border padding = Keras' ``fill_mode='nearest'``), which keeps
augmentation off the data-loading critical path on CPU and GPU alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.transforms import v2

from emotion_lab.errors import ConfigError


def _uniform(n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    return torch.empty(n, device=like.device, dtype=like.dtype).uniform_(low, high)


class RandomHorizontalFlip(nn.Module):
    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"augmentation: flip probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(x.shape[0], device=x.device) < self.p
        return torch.where(flip[:, None, None, None], x.flip(-1), x)


def keras_affine_theta(
    angle: torch.Tensor,
    shift: torch.Tensor,
    shear: torch.Tensor,
    zoom: torch.Tensor,
    mirror: torch.Tensor,
) -> torch.Tensor:
    """``affine_grid`` matrices (N×2×3) of Keras' ``apply_affine_transform`` for square images.

    Keras samples the input at ``R·(Sh·Z·p + t)`` for every output pixel ``p`` (x, y about the
    centre): ``R`` rotation by ``angle``, ``Sh = [[1, -sin s], [0, cos s]]`` its shear, ``Z`` the
    per-axis zoom factors (``zoom`` N×2, > 1 zooms out), ``t`` the shift (``shift`` N×2, in grid
    units: 2 = the full side); a horizontal flip of the output (``mirror`` = ±1) comes last.
    Angles are radians here; the module converts Keras' degrees.
    """
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    zero, one = torch.zeros_like(shear), torch.ones_like(shear)
    shearing = torch.stack(
        [torch.stack([one, -torch.sin(shear)], 1), torch.stack([zero, torch.cos(shear)], 1)], 1
    )
    linear = rotation @ shearing * zoom[:, None, :] * torch.stack([mirror, one], 1)[:, None, :]
    offset = rotation @ shift[:, :, None]
    return torch.cat([linear, offset], dim=2)


class RandomAffine(nn.Module):
    """Keras ``ImageDataGenerator`` geometry: rotation and shear in degrees, shift as a fraction
    of the side, zoom, horizontal flip; one ``grid_sample`` per batch.

    Arguments read as Keras reads them: ``degrees`` = ``rotation_range``, ``translate`` =
    ``width/height_shift_range``, ``shear`` = ``shear_range`` (degrees, not radians), ``zoom`` =
    ``zoom_range`` as ``[low, high]``: two factors drawn independently per image for width and
    height, multiplying the sampling grid (> 1 zooms out). ``scale`` is the torchvision-style
    alternative: one factor for both axes, > 1 enlarges the image.
    """

    def __init__(
        self,
        degrees: float = 0.0,
        translate: float = 0.0,
        shear: float = 0.0,
        scale: Sequence[float] = (1.0, 1.0),
        flip_p: float = 0.0,
        zoom: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if degrees < 0 or translate < 0 or shear < 0:
            raise ConfigError("augmentation: degrees, translate and shear must be >= 0")
        for key, pair in (("scale", scale), ("zoom", zoom)):
            if pair is not None and (len(pair) != 2 or not 0 < pair[0] <= pair[1]):
                raise ConfigError(
                    f"augmentation: {key} must be [low, high] with 0 < low <= high, got {pair}"
                )
        if zoom is not None and tuple(scale) != (1.0, 1.0):
            raise ConfigError("augmentation: give either zoom (Keras, per axis) or scale, not both")
        self.degrees, self.translate, self.shear = degrees, translate, shear
        self.scale = (float(scale[0]), float(scale[1]))
        self.zoom = None if zoom is None else (float(zoom[0]), float(zoom[1]))
        self.flip_p = flip_p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        angle = torch.deg2rad(_uniform(n, -self.degrees, self.degrees, x))
        shear = torch.deg2rad(_uniform(n, -self.shear, self.shear, x))
        if self.zoom is not None:
            zoom = _uniform(2 * n, *self.zoom, x).view(n, 2)
        else:
            zoom = (1 / _uniform(n, *self.scale, x))[:, None].expand(n, 2)
        shift = _uniform(2 * n, -self.translate, self.translate, x).view(n, 2) * 2
        mirror = torch.where(torch.rand(n, device=x.device) < self.flip_p, -1.0, 1.0).to(x.dtype)
        theta = keras_affine_theta(angle, shift, shear, zoom, mirror)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandomBrightness(nn.Module):
    """Multiply each image by a factor in [low, high] (Keras ``brightness_range``)."""

    def __init__(self, low: float = 0.8, high: float = 1.2) -> None:
        super().__init__()
        if not 0 <= low <= high:
            raise ConfigError(f"augmentation: brightness needs 0 <= low <= high, got {low}, {high}")
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = _uniform(x.shape[0], self.low, self.high, x)
        return (x * factor[:, None, None, None]).clamp(0, 1)


class RandomResizedCrop(nn.Module):
    """Crop a random area/aspect per image and resize it to ``out_size`` (default: the input
    size), so that images kept larger than the model (``data.decode_size``) are cropped from
    their full resolution."""

    sets_size = True

    def __init__(
        self, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3)
    ) -> None:
        super().__init__()
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ConfigError(
                f"augmentation: crop scale must satisfy 0 < low <= high <= 1, got {scale}"
            )
        self.scale = (float(scale[0]), float(scale[1]))
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def forward(self, x: torch.Tensor, out_size: int | None = None) -> torch.Tensor:
        n = x.shape[0]
        area = _uniform(n, *self.scale, x)
        aspect = torch.exp(_uniform(n, *self.log_ratio, x))
        w = torch.sqrt(area * aspect).clamp(max=1.0)
        h = torch.sqrt(area / aspect).clamp(max=1.0)
        cx = (torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * (1 - w)
        cy = (torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * (1 - h)
        zero = torch.zeros_like(w)
        theta = torch.stack([torch.stack([w, zero, cx], 1), torch.stack([zero, h, cy], 1)], dim=1)
        shape = list(x.shape) if out_size is None else [*x.shape[:2], out_size, out_size]
        grid = F.affine_grid(theta, shape, align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandAugment(nn.Module):
    """torchvision's RandAugment with each sample drawing its own ops, applied per group.

    Every sample draws ``num_ops`` ops and signs, as torchvision does per image; the magnitude is
    fixed, so all samples that drew the same (op, sign) get the very same transform, which runs
    once on their stacked sub-batch through torchvision's own op. A batch then costs at most
    ~25 op calls per slot instead of one per image and op, and the draws are made on the CPU so
    that choosing the groups never waits for the device.
    """

    def __init__(self, num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31) -> None:
        super().__init__()
        if num_ops < 0:
            raise ConfigError(f"augmentation: RandAugment num_ops must be >= 0, got {num_ops}")
        if not 0 <= magnitude < num_magnitude_bins:
            raise ConfigError(
                f"augmentation: RandAugment magnitude must be in [0, {num_magnitude_bins}), "
                f"got {magnitude}"
            )
        self.op = v2.RandAugment(
            num_ops=num_ops, magnitude=magnitude, num_magnitude_bins=num_magnitude_bins
        )
        self.num_ops = num_ops

    def space(self, height: int, width: int) -> list[tuple[str, float, bool]]:
        """(op name, magnitude, signed) for every op torchvision's RandAugment draws from."""
        out = []
        for name, (magnitudes_fn, signed) in self.op._AUGMENTATION_SPACE.items():
            magnitudes = magnitudes_fn(self.op.num_magnitude_bins, height, width)
            value = 0.0 if magnitudes is None else float(magnitudes[self.op.magnitude])
            out.append((name, value, bool(signed)))
        return out

    def apply(self, images: torch.Tensor, name: str, magnitude: float) -> torch.Tensor:
        """One op on a uint8 batch, exactly as torchvision applies it to one image."""
        return self.op._apply_image_or_video_transform(
            images, name, magnitude, interpolation=self.op.interpolation, fill=self.op._fill
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = (x * 255).round().to(torch.uint8)
        space = self.space(*images.shape[-2:])
        n = images.shape[0]
        for _ in range(self.num_ops):
            choice = torch.randint(len(space), (n,))
            negative = torch.rand(n) <= 0.5
            for k, (name, magnitude, signed) in enumerate(space):
                if name == "Identity":
                    continue
                for sign in (-1.0, 1.0) if signed else (1.0,):
                    mask = choice == k
                    if signed:
                        mask &= negative == (sign < 0)
                    index = mask.nonzero().squeeze(1)
                    if index.numel() == 0:
                        continue
                    index = index.to(images.device, non_blocking=True)
                    group = self.apply(images.index_select(0, index), name, sign * magnitude)
                    images.index_copy_(0, index, group)
        return images.to(x.dtype) / 255


class BatchAugment(nn.Module):
    """An ordered list of the ops above, applied to training batches only.

    ``out_size`` is the model's input size; ops that crop (``sets_size``) produce it directly.
    """

    def __init__(self, ops: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, out_size: int | None = None) -> torch.Tensor:
        for op in self.ops:
            x = op(x, out_size=out_size) if getattr(op, "sets_size", False) else op(x)
        return x


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a uint8 N×C×H×W stack once, in chunks, with antialiasing when shrinking."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], 1024):
        chunk = images[start : start + 1024].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True)
        out[start : start + 1024] = resized.round().clamp(0, 255).to(torch.uint8)
    return out


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Gray → RGB by replication; RGB → gray by ITU-R 601 luma (what PIL's "L" mode does)."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise ConfigError(f"model.in_chans={channels} is not supported for {have}-channel images")
