"""Keras-semantics initialisers: the statistics each scheme promises, on real layers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from emotion_lab.errors import ParameterError
from emotion_lab.models import INITIALIZERS, apply_initializer, create_model


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(64, 128, kernel_size=3),  # fan_in 576, fan_out 1152, 73,728 weights
        nn.BatchNorm2d(128),
        nn.Flatten(),
        nn.Linear(2000, 1000),  # fan_in 2000, fan_out 1000, 2,000,000 weights
    )


@pytest.mark.parametrize(("name", "scale"), [("he_normal", 2.0), ("lecun_normal", 1.0)])
def test_truncated_normal_std_matches_keras(name: str, scale: float) -> None:
    net = _net()
    apply_initializer(net, name)
    for layer, fan_in in ((net[0], 576), (net[3], 2000)):
        w = layer.weight.detach().flatten()
        target = math.sqrt(scale / fan_in)  # Keras rescales σ so the truncated std equals this
        assert w.std().item() == pytest.approx(target, rel=0.02)
        assert w.mean().item() == pytest.approx(0.0, abs=0.02 * target)
        # truncated at two of the pre-truncation σ = target / 0.8796…
        bound = 2 * target / 0.87962566103423978
        assert w.abs().max().item() <= bound + 1e-7
        assert w.abs().max().item() > 0.98 * bound
        assert torch.count_nonzero(layer.bias) == 0


def test_glorot_uniform_bounds_and_std() -> None:
    net = _net()
    apply_initializer(net, "glorot_uniform")
    for layer, fan_in, fan_out in ((net[0], 576, 1152), (net[3], 2000, 1000)):
        w = layer.weight.detach().flatten()
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert w.abs().max().item() <= limit
        assert w.abs().max().item() > 0.99 * limit
        assert w.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.02)
        assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "lecun_normal"])
def test_initializer_changes_weights_but_not_batchnorm(name: str) -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():  # non-default BN state, to see that it survives
        net[1].weight.fill_(0.5)
        net[1].bias.fill_(0.25)
    apply_initializer(net, name)
    after = net.state_dict()
    assert not torch.equal(after["0.weight"], before["0.weight"])
    assert not torch.equal(after["3.weight"], before["3.weight"])
    # PyTorch's default for Linear is U(±1/sqrt(fan_in)): std 0.0129; He gives 0.0316, LeCun 0.0224
    assert after["3.weight"].std().item() > 1.5 * before["3.weight"].std().item()
    assert torch.all(net[1].weight == 0.5) and torch.all(net[1].bias == 0.25)


def test_default_leaves_pytorch_initialisation() -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert apply_initializer(net, "default") is net
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_unknown_name_names_the_key() -> None:
    with pytest.raises(ParameterError, match=r"^name='xavier'.*glorot_uniform"):
        apply_initializer(_net(), "xavier")
    assert set(INITIALIZERS) == {"default", "glorot_uniform", "he_normal", "lecun_normal"}


def test_applies_to_every_conv_and_linear_of_a_model() -> None:
    model = create_model("vire_cnn", 7, in_chans=1, input_size=48)
    apply_initializer(model, "he_normal")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 5
    for layer in layers:
        fan_in = layer.weight[0].numel()
        bound = 2 * math.sqrt(2 / fan_in) / 0.87962566103423978
        assert layer.weight.abs().max().item() <= bound + 1e-7
        assert torch.count_nonzero(layer.bias) == 0
