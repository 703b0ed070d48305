"""The array a run trains on: a decoded split at the model's size and channels, cached once.

A source caches a split at the size it decodes to (FER2013: 48×48 grey). When the model takes
another size or channel count, the converted array is stored beside the source's cache, keyed
by the source entry, size and channels, and opened memory-mapped like it, so parallel trials
and DDP ranks on one node read one copy through the page cache instead of each converting the
split into private memory. Only sources without a cache (arrays built in memory) are converted
in memory.
"""

from __future__ import annotations

import numpy as np
import torch

from emotion_lab.data.formats.base import ImageSet
from emotion_lab.data.formats.cache import DecodedSplit, locked_build, write_array_cache
from emotion_lab.data.transforms import convert_channels, resize_uint8

VARIANT_VERSION = 1
"""Bump when the conversion below changes, so stored variants are rebuilt."""

CHUNK = 512
"""Images converted at a time: bounds the memory a conversion needs, whatever the split size."""


def model_array(data: ImageSet, size: int, channels: int) -> np.ndarray:
    """``data.images`` as uint8 N×size×size×channels, from the cache whenever possible."""
    if data.images.shape[1:] == (size, size, channels):
        return data.images
    if data.cache is None:
        return _convert(np.asarray(data.images), size, channels)
    stem = data.cache.stem.with_name(f"{data.cache.stem.name}@{size}px{channels}c")
    key = f"{data.cache.key}|variant{VARIANT_VERSION}:{size}:{channels}"
    shape = (len(data.images), size, size, channels)

    def build() -> DecodedSplit:
        def fill(out: np.ndarray) -> None:
            for start in range(0, len(data.images), CHUNK):
                out[start : start + CHUNK] = _convert(
                    data.images[start : start + CHUNK], size, channels
                )

        stored = write_array_cache(stem, key, shape, fill, data.labels)
        if stored is not None:
            return stored
        return DecodedSplit(_convert(np.asarray(data.images), size, channels), data.labels)

    return locked_build(stem, key, build).images


def _convert(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Channel conversion, then an antialiased resize (the datamodule's one resize path)."""
    chw = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    out = resize_uint8(convert_channels(chw, channels), size)
    return out.permute(0, 2, 3, 1).contiguous().numpy()
