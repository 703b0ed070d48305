"""Every architecture: shapes, the published layouts, checkpoint loading and config files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from emotion_lab.errors import ParameterError
from emotion_lab.models import EmotionNet, create_model, list_models
from emotion_lab.models.cnn4 import CNN4
from emotion_lab.models.gram_efficientnet import GramModule, gram_matrix
from emotion_lab.models.resemotenet import ResEmoteNet, load_official_checkpoint

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"
NUM_CLASSES = 7

# Small but faithful settings for each registered model: (name, in_chans, input_size, kwargs).
SMALL_CASES = [
    ("vire_cnn", 1, 48, {}),
    ("vire_alexnet", 1, 48, {"hidden": 64, "width": 0.25}),
    ("vire_densenet", 1, 48, {}),
    ("cnn4", 1, 48, {}),
    ("keras_baseline_cnn", 1, 48, {}),
    ("resemotenet", 3, 64, {"width": 1 / 16}),
    ("timm", 1, 48, {"model_name": "test_vit"}),
    ("timm", 3, 64, {"model_name": "test_resnet"}),
    (
        "gram_efficientnet",
        3,
        32,
        {"backbone": "test_efficientnet", "taps": ["blocks.1.0", "blocks.3.0"]},
    ),
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_every_registered_model_has_a_small_case() -> None:
    assert {case[0] for case in SMALL_CASES} == set(list_models())


@pytest.mark.parametrize(("name", "in_chans", "size", "kwargs"), SMALL_CASES)
def test_forward_shapes(name: str, in_chans: int, size: int, kwargs: dict) -> None:
    torch.manual_seed(0)
    model = create_model(name, NUM_CLASSES, in_chans=in_chans, input_size=size, **kwargs)
    assert isinstance(model, EmotionNet)
    model.eval()
    x = torch.randn(2, in_chans, size, size)
    with torch.no_grad():
        emb = model.forward_features(x)
        logits = model(x)
    assert emb.shape == (2, model.embedding_dim)
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.allclose(model.forward_head(emb), logits, atol=1e-5)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("vire_cnn", {}),
        ("vire_alexnet", {}),
        ("vire_densenet", {}),
        ("cnn4", {}),
        ("keras_baseline_cnn", {}),
        ("resemotenet", {"width": 0.125}),
    ],
)
def test_the_module_runs_every_model_channels_last_without_changing_results(
    name: str, kwargs: dict
) -> None:
    from functools import partial

    from emotion_lab.classifier.module import EmotionClassifier
    from emotion_lab.losses import EmotionLoss

    torch.manual_seed(0)
    model = create_model(name, NUM_CLASSES, in_chans=1, input_size=48, **kwargs).eval()
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        reference = model(x)
    assert not any(
        p.is_contiguous(memory_format=torch.channels_last)
        and p.dim() == 4
        and p.shape[1] > 1
        and p.shape[2] > 1
        for p in model.parameters()
    )
    module = EmotionClassifier(
        model=model,
        loss=EmotionLoss(NUM_CLASSES, model.embedding_dim),
        optimizer=partial(torch.optim.SGD, lr=0.1),
        classes=[str(i) for i in range(NUM_CLASSES)],
        channels_last=True,
    )
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        assert first_conv(x.contiguous(memory_format=torch.channels_last)).is_contiguous(
            memory_format=torch.channels_last
        )
        _, logits = module._network()(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(logits, reference, atol=1e-4)


@pytest.mark.parametrize("name", ["vire_cnn", "vire_alexnet", "vire_densenet", "cnn4"])
def test_too_small_input_names_the_key(name: str) -> None:
    with pytest.raises(ParameterError, match="^input_size=4: "):
        create_model(name, NUM_CLASSES, in_chans=1, input_size=4)


# --- the S001/S003 layouts -----------------------------------------------------------------


def test_vire_cnn_keras_valid_padding_flattens_6400() -> None:
    model = create_model("vire_cnn", NUM_CLASSES, in_chans=1, input_size=48)
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [
        (6400, 128),
        (128, 64),
        (64, NUM_CLASSES),
    ]
    assert model.embedding_dim == 64


def test_vire_alexnet_keeps_alexnets_9216_features_at_48() -> None:
    model = create_model("vire_alexnet", NUM_CLASSES, in_chans=1, input_size=48)
    convs = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert convs == [96, 256, 384, 384, 256]
    assert [(d.in_features, d.out_features) for d in dense] == [
        (9216, 4096),
        (4096, 4096),
        (4096, NUM_CLASSES),
    ]


def test_vire_densenet_stage_shapes_match_the_paper() -> None:
    model = create_model("vire_densenet", NUM_CLASSES, in_chans=1, input_size=48).eval()
    shapes: list[tuple[int, ...]] = []
    for layer in model.features:
        layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
    with torch.no_grad():
        model.forward_features(torch.zeros(1, 1, 48, 48))
    assert shapes[0] == (64, 24, 24)  # 3×3 stride-2 stem
    assert shapes[3] == (64, 12, 12)  # after BN-ReLU and pooling
    assert shapes[7] == (192, 12, 12)  # dense block, 4 × growth 32
    assert shapes[8] == (96, 6, 6)  # transition
    assert shapes[12] == (224, 6, 6)  # dense block
    assert shapes[13] == (112, 3, 3)  # transition
    assert shapes[17] == (240, 3, 3)  # third dense block, no transition after it
    assert shapes[-1] == (240,)  # "a vector of 240 units, resulting from the average pooling"
    assert model.embedding_dim == 240
    assert model.classifier.in_features == 240


def test_vire_densenet_block_structure_is_configurable() -> None:
    short = create_model("vire_densenet", NUM_CLASSES, block_layers=[4, 4], final_transition=True)
    assert short.embedding_dim == 112
    assert (
        create_model("vire_densenet", NUM_CLASSES, block_layers=[2, 3, 1]).embedding_dim
        == ((64 + 2 * 32) // 2 + 3 * 32) // 2 + 32
    )
    with pytest.raises(ParameterError, match="^input_size=16: "):
        create_model("vire_densenet", NUM_CLASSES, input_size=16, block_layers=[4, 4, 4, 4])


def test_keras_baseline_cnn_reaches_a_1x1_map() -> None:
    model = create_model("keras_baseline_cnn", NUM_CLASSES, in_chans=1, input_size=48)
    first_dense = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert first_dense.in_features == 512  # 512 channels × 1 × 1
    assert model.embedding_dim == 256


def test_cnn4_regularization_loss_is_keras_l2() -> None:
    torch.manual_seed(0)
    model = create_model("cnn4", NUM_CLASSES, in_chans=1, input_size=48)
    assert isinstance(model, CNN4)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 512]
    assert model.dense.in_features == 512 * 3 * 3  # 'same' padding: 48 → 24 → 12 → 6 → 3
    expected = 1e-3 * convs[0].weight.pow(2).sum()
    expected = expected + sum(1e-2 * c.weight.pow(2).sum() for c in convs[1:])
    expected = expected + 1e-2 * model.dense.weight.pow(2).sum()
    reg = model.regularization_loss()
    assert torch.allclose(reg, expected, rtol=1e-6)
    # biases are not penalised (Keras kernel_regularizer) ...
    with torch.no_grad():
        convs[0].bias.add_(5.0)
    assert torch.allclose(model.regularization_loss(), reg)
    # ... and the gradient is 2·coef·w
    model.regularization_loss().backward()
    assert torch.allclose(convs[0].weight.grad, 2e-3 * convs[0].weight)
    assert torch.allclose(model.dense.weight.grad, 2e-2 * model.dense.weight)


def test_cnn4_l2_coefficients_are_configurable() -> None:
    model = create_model("cnn4", NUM_CLASSES, in_chans=1, conv_l2=0.0, dense_l2=0.0)
    assert model.regularization_loss().item() == 0.0
    with pytest.raises(ParameterError, match=r"^conv_l2=\[0.1, 0.1\]: 2 values for 4"):
        create_model("cnn4", NUM_CLASSES, in_chans=1, conv_l2=[0.1, 0.1])


# --- ResEmoteNet (S004) --------------------------------------------------------------------


def _official_resemotenet_shapes(num_classes: int) -> dict[str, tuple[int, ...]]:
    """Key → shape table of a state_dict saved by the authors' ResEmoteNet code."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)

    def bn(name: str, c: int) -> None:
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{field}"] = (c,)
        shapes[f"{name}.num_batches_tracked"] = ()

    for i, (cin, cout) in enumerate([(3, 64), (64, 128), (128, 256)], start=1):
        conv(f"conv{i}", cin, cout, 3)
        bn(f"bn{i}", cout)
    shapes["se.fc.0.weight"] = (16, 256)
    shapes["se.fc.2.weight"] = (256, 16)
    for i, (cin, cout) in enumerate([(256, 512), (512, 1024), (1024, 2048)], start=1):
        block = f"res_block{i}"
        conv(f"{block}.conv1", cin, cout, 3)
        bn(f"{block}.bn1", cout)
        conv(f"{block}.conv2", cout, cout, 3)
        bn(f"{block}.bn2", cout)
        conv(f"{block}.shortcut.0", cin, cout, 1)
        bn(f"{block}.shortcut.1", cout)
    for i, (fin, fout) in enumerate([(2048, 1024), (1024, 512), (512, 256)], start=1):
        shapes[f"fc{i}.weight"] = (fout, fin)
        shapes[f"fc{i}.bias"] = (fout,)
    shapes["fc4.weight"] = (num_classes, 256)
    shapes["fc4.bias"] = (num_classes,)
    return shapes


def _official_state(num_classes: int) -> dict[str, torch.Tensor]:
    """Cheap distinct contents: tensor i is filled with i, so a mix-up of keys shows."""
    table = _official_resemotenet_shapes(num_classes)
    return {
        key: torch.tensor(3) if key.endswith("num_batches_tracked") else torch.full(shape, float(i))
        for i, (key, shape) in enumerate(table.items())
    }


@pytest.fixture(scope="module")
def full_resemotenet() -> ResEmoteNet:
    return create_model("resemotenet", NUM_CLASSES, in_chans=3, input_size=64)


def test_resemotenet_parameter_count(full_resemotenet: ResEmoteNet) -> None:
    assert sum(p.numel() for p in full_resemotenet.parameters()) == 80_238_599
    table = _official_resemotenet_shapes(NUM_CLASSES)
    learnable = {
        k: s for k, s in table.items() if not k.rsplit(".", 1)[1].startswith(("running", "num"))
    }
    assert sum(torch.Size(s).numel() for s in learnable.values()) == 80_238_599
    assert full_resemotenet.embedding_dim == 256


def test_resemotenet_loads_official_state_dict_strictly(
    full_resemotenet: ResEmoteNet, tmp_path: Path
) -> None:
    state = _official_state(NUM_CLASSES)
    path = tmp_path / "official.pth"
    torch.save(state, path)
    load_official_checkpoint(full_resemotenet, path)
    loaded = full_resemotenet.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.parametrize("wrapping", ["state_dict", "model_state_dict", "module_prefix"])
def test_resemotenet_checkpoint_wrappings(tmp_path: Path, wrapping: str) -> None:
    source = create_model("resemotenet", NUM_CLASSES, width=1 / 16)
    target = create_model("resemotenet", NUM_CLASSES, width=1 / 16)
    state = {k: v + 1 if v.is_floating_point() else v for k, v in source.state_dict().items()}
    if wrapping == "module_prefix":
        saved: dict = {f"module.{k}": v for k, v in state.items()}
    else:
        saved = {wrapping: state, "epoch": 12}
    torch.save(saved, tmp_path / "wrapped.pth")
    load_official_checkpoint(target, tmp_path / "wrapped.pth")
    assert all(torch.equal(v, state[k]) for k, v in target.state_dict().items())


def test_resemotenet_checkpoint_mismatch_is_one_line(tmp_path: Path) -> None:
    small = create_model("resemotenet", NUM_CLASSES, width=1 / 16)
    path = tmp_path / "six_classes.pth"
    torch.save(create_model("resemotenet", 6, width=1 / 16).state_dict(), path)
    with pytest.raises(ValueError, match=r"six_classes\.pth.*'fc4\.weight'") as info:
        load_official_checkpoint(small, path)
    assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="^checkpoint_path='nope.pth': no such"):
        load_official_checkpoint(small, "nope.pth")


def test_resemotenet_forward_follows_the_reference(tmp_path: Path) -> None:
    """Width-1/16 replica checked against the reference forward written out functionally."""
    torch.manual_seed(0)
    model = create_model("resemotenet", NUM_CLASSES, in_chans=3, input_size=48, width=1 / 16)
    model.eval()
    x = torch.randn(2, 3, 48, 48)
    p = dict(model.named_parameters()) | dict(model.named_buffers())

    def bn(t: torch.Tensor, name: str) -> torch.Tensor:
        return F.batch_norm(
            t, p[f"{name}.running_mean"], p[f"{name}.running_var"], p[f"{name}.weight"],
            p[f"{name}.bias"], eps=1e-5,
        )  # fmt: skip

    def conv(t: torch.Tensor, name: str, stride: int = 1, pad: int = 1) -> torch.Tensor:
        return F.conv2d(t, p[f"{name}.weight"], p[f"{name}.bias"], stride=stride, padding=pad)

    h = x
    for i in (1, 2, 3):
        h = F.max_pool2d(F.relu(bn(conv(h, f"conv{i}"), f"bn{i}")), 2)
    s = torch.sigmoid(F.relu(h.mean((2, 3)) @ p["se.fc.0.weight"].T) @ p["se.fc.2.weight"].T)
    h = h * s[:, :, None, None]
    for i in (1, 2, 3):
        b = f"res_block{i}"
        out = F.relu(bn(conv(h, f"{b}.conv1", stride=2), f"{b}.bn1"))
        out = bn(conv(out, f"{b}.conv2"), f"{b}.bn2")
        h = F.relu(out + bn(conv(h, f"{b}.shortcut.0", 2, 0), f"{b}.shortcut.1"))
    h = h.mean((2, 3))
    for i in (1, 2, 3):
        h = F.relu(F.linear(h, p[f"fc{i}.weight"], p[f"fc{i}.bias"]))
    expected = F.linear(h, p["fc4.weight"], p["fc4.bias"])
    with torch.no_grad():
        assert torch.allclose(model.forward_features(x), h, atol=1e-5)
        assert torch.allclose(model(x), expected, atol=1e-5)


# --- Gram modules (S000) -------------------------------------------------------------------


def test_gram_matrix_by_hand() -> None:
    # one sample, 2 channels, a 1×2 map: F = [[1, 2], [3, 4]], H·W = 2
    x = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    assert torch.equal(gram_matrix(x), expected)


def test_gram_module_combines_both_branches() -> None:
    torch.manual_seed(0)
    module = GramModule(6).eval()
    with torch.no_grad():
        module.gram_bn.running_mean.uniform_(-1, 1)
        module.gram_bn.running_var.uniform_(0.5, 2)
    x = torch.randn(3, 6, 4, 5)
    f = x.reshape(3, 6, 20)
    gram = torch.einsum("bcp,bdp->bcd", f, f) / 20
    a = F.silu(gram.flatten(1) @ module.gram_fc.weight.T + module.gram_fc.bias)
    bn = module.gram_bn
    a = (a - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    b = torch.einsum("bchw,oc->bohw", x, module.proj.weight[:, :, 0, 0])
    b = F.silu(b + module.proj.bias[None, :, None, None]).mean((2, 3))
    with torch.no_grad():
        out = module(x)
    assert out.shape == (3, 3)
    assert torch.allclose(out, a + b, atol=1e-5)


def test_gram_taps_width_and_truncation() -> None:
    import timm

    torch.manual_seed(0)
    taps = ["blocks.1.0", "blocks.3.0"]
    kwargs = {"backbone": "test_efficientnet", "taps": taps, "in_chans": 3, "input_size": 32}
    full = create_model("gram_efficientnet", NUM_CLASSES, truncate=False, **kwargs)
    short = create_model("gram_efficientnet", NUM_CLASSES, **kwargs)
    # channel counts read off the plain timm model with our own hooks
    plain = timm.create_model("test_efficientnet").eval()
    seen: dict[str, int] = {}
    for tap in taps:
        plain.get_submodule(tap).register_forward_hook(
            lambda _m, _i, out, t=tap: seen.__setitem__(t, out.shape[1])
        )
    plain(torch.zeros(1, 3, 32, 32))
    assert short.embedding_dim == full.embedding_dim == sum(seen[t] // 2 for t in taps)
    # truncation drops everything after the last tap, and nothing that matters
    assert sum(p.numel() for p in short.parameters()) < sum(p.numel() for p in full.parameters())
    assert not any(
        k.startswith(("backbone.conv_head", "backbone.blocks.4")) for k in short.state_dict()
    )
    short.load_state_dict(full.state_dict(), strict=False)
    full.eval()
    short.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(short(x), full(x), atol=1e-6)


def test_gram_default_taps_give_136_dims() -> None:
    model = create_model("gram_efficientnet", NUM_CLASSES, in_chans=3, input_size=224)
    assert [m.out_features for m in model.gram] == [24, 32, 80]
    assert model.embedding_dim == 136
    assert model.classifier.in_features == 136


def test_gram_wrong_tap_lists_valid_names() -> None:
    with pytest.raises(ParameterError, match="^taps=") as info:
        create_model(
            "gram_efficientnet",
            NUM_CLASSES,
            input_size=32,
            backbone="test_efficientnet",
            taps=["blocks.1.0", "blocks.1.7"],
        )
    message = str(info.value)
    assert "'blocks.1.7'" in message
    assert "blocks.0.0" in message and "blocks.4.0" in message
    assert "\n" not in message


def test_gram_backbone_checkpoint_drops_the_imagenet_head(tmp_path: Path) -> None:
    import timm

    source = timm.create_model("test_efficientnet", num_classes=1000)
    path = tmp_path / "backbone.pth"
    torch.save(source.state_dict(), path)
    model = create_model(
        "gram_efficientnet",
        NUM_CLASSES,
        input_size=32,
        backbone="test_efficientnet",
        taps=["blocks.2.0"],
        checkpoint_path=str(path),
    )
    assert torch.equal(model.backbone.conv_stem.weight, source.conv_stem.weight)
    assert torch.equal(
        model.backbone.blocks[2][0].conv_pwl.weight, source.blocks[2][0].conv_pwl.weight
    )


# --- timm models (S002) --------------------------------------------------------------------


def test_timm_checkpoint_adapts_head_stem_and_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_model("timm", 1000, in_chans=3, input_size=160, model_name="test_vit")
    path = tmp_path / "vit.pth"
    wrapped = {f"module.{k}": v for k, v in source.backbone.state_dict().items()}
    torch.save({"state_dict": wrapped}, path)
    model = create_model(
        "timm",
        NUM_CLASSES,
        in_chans=1,
        input_size=48,
        model_name="test_vit",
        checkpoint_path=str(path),
    )
    src, dst = source.backbone, model.backbone
    assert torch.equal(dst.blocks[0].attn.qkv.weight, src.blocks[0].attn.qkv.weight)
    # a 3-channel stem summed into one channel, as timm does for its own pretrained weights
    assert torch.allclose(
        dst.patch_embed.proj.weight, src.patch_embed.proj.weight.sum(1, keepdim=True)
    )
    # position embedding resampled from 10×10 to 3×3 patches, the 1000-class head left fresh
    assert dst.pos_embed.shape[1] == src.pos_embed.shape[1] - 100 + 9
    assert dst.head.weight.shape == (NUM_CLASSES, 64)


def test_timm_checkpoint_with_same_classes_loads_the_head(tmp_path: Path) -> None:
    source = create_model("timm", NUM_CLASSES, in_chans=3, input_size=64, model_name="test_resnet")
    path = tmp_path / "resnet.pth"
    torch.save(source.state_dict(), path)  # saved from our wrapper: keys start with 'backbone.'
    model = create_model(
        "timm",
        NUM_CLASSES,
        in_chans=3,
        input_size=64,
        model_name="test_resnet",
        checkpoint_path=str(path),
    )
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())


def test_timm_checkpoint_errors_name_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pth"
    with pytest.raises(FileNotFoundError, match=r"^checkpoint_path=.*absent\.pth"):
        create_model("timm", NUM_CLASSES, model_name="test_resnet", checkpoint_path=str(missing))
    other = tmp_path / "vit.pth"
    torch.save(
        create_model("timm", NUM_CLASSES, model_name="test_vit", input_size=64).state_dict(), other
    )
    with pytest.raises(ValueError, match=r"vit\.pth.*does not match.*key"):
        create_model("timm", NUM_CLASSES, model_name="test_resnet", checkpoint_path=str(other))
    with pytest.raises(ParameterError, match="^model_name='no_such_net': "):
        create_model("timm", NUM_CLASSES, model_name="no_such_net")


def test_timm_pretrained_offline_points_to_checkpoint_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)  # what a machine without network sees
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))  # and an empty weight cache
    with pytest.raises(RuntimeError, match="model.checkpoint_path=<file>"):
        create_model("timm", NUM_CLASSES, model_name="test_resnet", input_size=64, pretrained=True)


def test_timm_conv_classifier_head() -> None:
    """ResNetV2's classifier is a 1×1 conv; forward must still equal timm's own forward."""
    model = create_model("timm", NUM_CLASSES, in_chans=3, input_size=64, model_name="resnetv2_18")
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), model.backbone(x), atol=1e-5)
    assert model.embedding_dim == 512


# --- conf/model/*.yaml ---------------------------------------------------------------------


CONFIGS = sorted(CONF_DIR.glob("*.yaml"))


def test_every_registered_model_has_a_config() -> None:
    archs = {cfg.get("arch") or cfg.name for cfg in map(OmegaConf.load, CONFIGS)}
    assert set(list_models()) <= archs


def test_every_model_config_has_its_own_name() -> None:
    """The name is what summaries and run names show: a ViT is not called "timm"."""
    names = [OmegaConf.load(p).name for p in CONFIGS]
    assert names == [p.stem for p in CONFIGS]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_instantiates_and_runs(path: Path) -> None:
    cfg = OmegaConf.load(path)
    assert "num_classes" not in cfg
    model = instantiate(cfg, num_classes=NUM_CLASSES).eval()
    x = torch.randn(2, cfg.in_chans, cfg.input_size, cfg.input_size)
    with torch.no_grad():
        assert model(x).shape == (2, NUM_CLASSES)
        assert model.forward_features(x).shape == (2, model.embedding_dim)
