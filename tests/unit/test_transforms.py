import pytest
import torch

from emotion_lab.classifier.schedules import warmup_cosine
from emotion_lab.data.transforms import (
    BatchAugment,
    RandAugment,
    RandomAffine,
    RandomBrightness,
    RandomHorizontalFlip,
    RandomResizedCrop,
    convert_channels,
    resize_uint8,
)


@pytest.fixture
def batch() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(6, 1, 16, 16)


def test_flip_probability_extremes(batch):
    assert torch.equal(RandomHorizontalFlip(p=1.0)(batch), batch.flip(-1))
    assert torch.equal(RandomHorizontalFlip(p=0.0)(batch), batch)


def test_flip_is_per_sample():
    torch.manual_seed(1)
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = RandomHorizontalFlip(p=0.5)(x)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert 10 < int(flipped.sum()) < 54


def test_affine_identity_and_mirror(batch):
    assert torch.allclose(RandomAffine()(batch), batch, atol=1e-5)
    assert torch.allclose(RandomAffine(flip_p=1.0)(batch), batch.flip(-1), atol=1e-5)


def test_affine_rotation_moves_pixels_and_keeps_range(batch):
    out = RandomAffine(degrees=30, translate=0.1, shear=10, scale=(0.9, 1.1))(batch)
    assert out.shape == batch.shape
    assert not torch.allclose(out, batch)
    assert out.min() >= 0 and out.max() <= 1


def test_brightness_factor_bounds():
    x = torch.full((100, 1, 2, 2), 0.5)
    out = RandomBrightness(0.8, 1.2)(x)
    assert out.min() >= 0.4 - 1e-6 and out.max() <= 0.6 + 1e-6
    assert out.std() > 0


def test_resized_crop_full_area_is_identity(batch):
    assert torch.allclose(
        RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0))(batch), batch, atol=1e-5
    )
    assert not torch.allclose(RandomResizedCrop(scale=(0.1, 0.2))(batch), batch)


def test_randaugment_per_sample_keeps_shape_and_range(batch):
    torch.manual_seed(0)
    out = BatchAugment([RandAugment(num_ops=2, magnitude=9)])(batch.expand(-1, 3, -1, -1))
    assert out.shape == (6, 3, 16, 16)
    assert out.min() >= 0 and out.max() <= 1


def test_nonsense_augmentation_values_are_rejected():
    with pytest.raises(ValueError, match="flip probability"):
        RandomHorizontalFlip(p=2.0)
    with pytest.raises(ValueError, match="scale"):
        RandomAffine(scale=(1.2, 0.8))


def test_resize_and_channel_conversion():
    images = torch.randint(0, 256, (3, 1, 48, 48), dtype=torch.uint8)
    big = resize_uint8(images, 64)
    assert big.shape == (3, 1, 64, 64) and big.dtype == torch.uint8
    rgb = convert_channels(images, 3)
    assert rgb.shape == (3, 3, 48, 48) and torch.equal(rgb[:, 0], rgb[:, 2])
    gray = convert_channels(rgb, 1)
    assert torch.equal(gray, images)  # luma weights sum to 1


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = warmup_cosine(opt, total_steps=100, warmup_fraction=0.1, min_lr_ratio=0.0)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[9] == pytest.approx(1.0)
    assert lrs[-1] < 0.01
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))


def _uint8_batch(n: int, channels: int = 3, side: int = 24) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, channels, side, side), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("negative", [False, True])
def test_randaugment_ops_on_a_group_equal_torchvision_image_by_image(negative: bool) -> None:
    aug = RandAugment(num_ops=1, magnitude=9)
    images = _uint8_batch(5)
    for name, magnitude, signed in aug.space(24, 24):
        value = -magnitude if (negative and signed) else magnitude
        grouped = aug.apply(images.clone(), name, value)
        one_by_one = torch.stack([aug.apply(img.clone(), name, value) for img in images])
        assert torch.equal(grouped, one_by_one), name


def test_randaugment_draws_ops_per_sample_and_batches_the_calls(monkeypatch) -> None:
    aug = RandAugment(num_ops=2, magnitude=9)
    calls: list[int] = []
    original = aug.apply

    def counting(images, name, magnitude):
        calls.append(images.shape[0])
        return original(images, name, magnitude)

    monkeypatch.setattr(aug, "apply", counting)
    torch.manual_seed(0)
    same = _uint8_batch(1).expand(64, -1, -1, -1).float() / 255
    out = aug(same)
    distinct = {tuple(img.flatten()[:200].tolist()) for img in (out * 255).round().to(torch.uint8)}
    assert len(distinct) > 10  # one image, 64 samples: each drew its own ops
    groups = 2 * sum(1 + signed for name, _, signed in aug.space(24, 24) if name != "Identity")
    assert len(calls) <= groups < 64 * 2  # grouped calls, not one per image and op
    assert sum(calls) <= 64 * 2


def test_randaugment_with_one_op_gives_each_sample_one_torchvision_outcome() -> None:
    aug = RandAugment(num_ops=1, magnitude=5)
    torch.manual_seed(3)
    images = _uint8_batch(16)
    out = (aug(images.float() / 255) * 255).round().to(torch.uint8)
    for img, got in zip(images, out, strict=True):
        outcomes = [img] + [
            aug.apply(img.clone(), name, sign * mag)
            for name, mag, signed in aug.space(24, 24)
            for sign in ((-1.0, 1.0) if signed else (1.0,))
        ]
        assert any(torch.equal(got, o) for o in outcomes)
