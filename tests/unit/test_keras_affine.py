"""RandomAffine against Keras' ``apply_affine_transform``, re-derived with scipy.ndimage.

Keras builds ``M = R·T·Sh·Z`` in (x, y) about the image centre (degrees for rotation and shear)
and samples with ``ndimage.affine_transform(order=1, mode='nearest')`` in (row, col) order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from scipy import ndimage

from emotion_lab.data.transforms import RandomAffine, keras_affine_theta

CONF = Path(__file__).resolve().parents[2] / "conf" / "augmentation"


def keras_reference(
    image: np.ndarray,
    theta_deg: float,
    tx: float,
    ty: float,
    shear_deg: float,
    zx: float,
    zy: float,
) -> np.ndarray:
    """Keras' transform of one H×W image, shifts in pixels (x = column, y = row)."""
    t, s = math.radians(theta_deg), math.radians(shear_deg)
    rotation = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shearing = np.array([[1, -math.sin(s), 0], [0, math.cos(s), 0], [0, 0, 1]])
    zoom = np.diag([zx, zy, 1.0])
    m = rotation @ shift @ shearing @ zoom
    h, w = image.shape
    centre = np.array([[1, 0, w / 2 - 0.5], [0, 1, h / 2 - 0.5], [0, 0, 1]])
    m = centre @ m @ np.linalg.inv(centre)
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])  # (x, y) → (row, col)
    m = swap @ m @ swap
    return ndimage.affine_transform(image, m[:2, :2], m[:2, 2], order=1, mode="nearest")


@pytest.mark.parametrize(
    "theta,tx,ty,shear,zx,zy",
    [(0, 0, 0, 20, 1, 1), (12, 3, -2, 0, 1, 1), (-25, -4, 5, 15, 0.8, 1.2), (0, 0, 0, 0, 1.2, 0.9)],
)
def test_theta_samples_like_keras(theta, tx, ty, shear, zx, zy) -> None:
    side = 24
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.random((side, side)), 1.5).astype(np.float32)
    one = torch.ones(1)
    grid_theta = keras_affine_theta(
        torch.tensor([math.radians(theta)]),
        torch.tensor([[tx, ty]], dtype=torch.float32) * 2 / side,
        torch.tensor([math.radians(shear)]),
        torch.tensor([[zx, zy]], dtype=torch.float32),
        one,
    )
    x = torch.from_numpy(image)[None, None]
    grid = torch.nn.functional.affine_grid(grid_theta, list(x.shape), align_corners=False)
    ours = torch.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)
    expected = keras_reference(image, theta, tx, ty, shear, zx, zy)
    np.testing.assert_allclose(ours[0, 0].numpy(), expected, atol=1e-4)


def _shear_only_spread(shear_deg: float) -> float:
    """Mean absolute change that a shear-only RandomAffine makes to a vertical-stripe image."""
    torch.manual_seed(0)
    stripes = (torch.arange(48) % 8 < 4).float().expand(64, 1, 48, 48)
    return float((RandomAffine(shear=shear_deg)(stripes) - stripes).abs().mean())


def test_shear_is_degrees_as_in_keras() -> None:
    # shear_range=0.2 in Keras is 0.2°: the image barely moves; 0.2 rad (11.5°) would move a lot.
    assert _shear_only_spread(0.2) < 0.01
    assert _shear_only_spread(math.degrees(0.2)) > 5 * _shear_only_spread(0.2)


def test_keras_zoom_is_drawn_per_axis() -> None:
    torch.manual_seed(0)
    x = torch.zeros(256, 1, 32, 32)
    x[:, :, 8:24, 8:24] = 1.0  # a centred square: its width and height show the zoom per axis
    out = RandomAffine(zoom=(0.8, 1.2))(x)
    width = (out[:, 0, 16] > 0.5).sum(1).float()
    height = (out[:, 0, :, 16] > 0.5).sum(1).float()
    assert (width - height).abs().max() >= 3  # independent factors make rectangles
    with pytest.raises(ValueError, match="zoom"):
        RandomAffine(zoom=(1.2, 0.8))
    with pytest.raises(ValueError, match="not both"):
        RandomAffine(zoom=(0.9, 1.1), scale=(0.9, 1.1))


@pytest.mark.parametrize(
    "name,rotation,shift,shear,zoom",
    [("s003_minority", 30, 0.2, 0.2, (0.8, 1.2)), ("vire_phase2", 10, 0.1, 10, (0.9, 1.1))],
)
def test_keras_configs_carry_keras_values(name, rotation, shift, shear, zoom) -> None:
    aug = instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
    affine = next(op for op in aug.ops if isinstance(op, RandomAffine))
    assert (affine.degrees, affine.translate, affine.shear) == (rotation, shift, shear)
    assert affine.zoom == zoom and affine.scale == (1.0, 1.0)
    assert affine.flip_p == 0.5
