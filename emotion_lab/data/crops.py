"""Face boxes and square outputs: the geometry applied once, at decode, before the cache.

Official releases of in-the-wild sets (ExpW, AffectNet, RAF-DB's original images) give whole
photos plus a face box; training on the photo would teach the background. A box is widened by
``margin`` (a fraction of its width and height on every side), clipped to the image, and the
crop is then brought to a square by ``resize``:

- ``stretch``: scaled to the square whatever its aspect (what Keras's ``flow_from_directory``
  and most FER code do);
- ``shorter_side_center_crop``: the shorter side scaled to the square, the longer one
  centre-cropped (torchvision's ``Resize(s)`` + ``CenterCrop(s)``, the ImageNet habit);
- ``pad``: the longer side scaled to the square and the rest filled with black (letterbox).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from PIL import Image

from emotion_lab.errors import ConfigError

ResizeMode = Literal["stretch", "shorter_side_center_crop", "pad"]
RESIZE_MODES: tuple[str, ...] = ("stretch", "shorter_side_center_crop", "pad")


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the original image: ``left``/``top`` inclusive, ``right``/
    ``bottom`` exclusive, as floats because some releases give sub-pixel boxes."""

    left: float
    top: float
    right: float
    bottom: float

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float) -> Box:
        return cls(x, y, x + w, y + h)

    def as_list(self) -> list[float]:
        return [self.left, self.top, self.right, self.bottom]

    def __str__(self) -> str:
        return "({:g}, {:g}, {:g}, {:g})".format(*self.as_list())


def check_resize(resize: str) -> ResizeMode:
    """``data.resize``: one of :data:`RESIZE_MODES`."""
    if resize not in RESIZE_MODES:
        raise ConfigError(f"data.resize must be one of {', '.join(RESIZE_MODES)}; got {resize!r}")
    return resize  # type: ignore[return-value]


def check_margin(margin: float) -> float:
    """``data.crop.margin``: a fraction >= 0 of the box added on each side."""
    ok = isinstance(margin, int | float) and not isinstance(margin, bool)
    if not ok or not math.isfinite(margin) or margin < 0 or margin > 10:
        raise ConfigError(f"data.crop.margin must be a number in [0, 10]; got {margin!r}")
    return float(margin)


def crop_rect(
    box: Box, width: int, height: int, margin: float = 0.0
) -> tuple[int, int, int, int] | None:
    """Integer (left, top, right, bottom) of ``box`` widened by ``margin`` and clipped to a
    ``width``×``height`` image; None when nothing of it lies inside the image."""
    bw, bh = box.right - box.left, box.bottom - box.top
    if not (math.isfinite(bw) and math.isfinite(bh)) or bw <= 0 or bh <= 0:
        return None
    left = max(0, math.floor(box.left - margin * bw))
    top = max(0, math.floor(box.top - margin * bh))
    right = min(width, math.ceil(box.right + margin * bw))
    bottom = min(height, math.ceil(box.bottom + margin * bh))
    if right - left < 1 or bottom - top < 1:
        return None
    return left, top, right, bottom


def to_square(img: Image.Image, size: int, resize: ResizeMode) -> Image.Image:
    """``img`` as ``size``×``size`` by the ``resize`` rule (Lanczos for every scaling)."""
    w, h = img.size
    if (w, h) == (size, size):
        return img
    lanczos = Image.Resampling.LANCZOS
    if resize == "stretch" or w == h:
        return img.resize((size, size), lanczos)
    if resize == "shorter_side_center_crop":
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        scaled = img.resize((nw, nh), lanczos)
        left, top = (nw - size) // 2, (nh - size) // 2
        return scaled.crop((left, top, left + size, top + size))
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new(img.mode, (size, size))
    canvas.paste(img.resize((nw, nh), lanczos), ((size - nw) // 2, (size - nh) // 2))
    return canvas
