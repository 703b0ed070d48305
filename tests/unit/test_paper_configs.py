"""The experiments and studies carry the values the papers' tables give (S000, S001, S002, S004)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from emotion_lab.app.config import CONFIG_DIR, compose_config
from emotion_lab.app.entry import one_line, user_error_of
from hydra_plugins.emotion_lab_sweeper._space import parse_search_space

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"

# S001 Table 4 (phase I) and Table 7 (phase II, with augmentation): lr, batch, epochs, initializer.
S001_PICKS = {
    "s001_vire_alexnet_phase1": (0.000141436, 64, 50, "lecun_normal", False),
    "s001_vire_densenet_phase1": (0.000139557, 8, 25, "lecun_normal", False),
    "s001_vire_cnn_phase1": (0.000828395, 8, 50, "he_normal", False),
    "s001_vire_cnn_phase1_300e": (0.000828395, 8, 300, "he_normal", False),
    "s001_vire_alexnet_phase2": (0.000248422, 8, 150, "lecun_normal", True),
    "s001_vire_densenet_phase2": (0.000433757, 8, 150, "he_normal", True),
    "s001_vire_cnn_phase2": (0.000167163, 16, 150, "glorot_uniform", True),
}


@pytest.mark.parametrize("name", sorted(S001_PICKS))
def test_s001_trained_models_are_the_hyperopt_picks(name: str) -> None:
    lr, batch, epochs, init, augmented = S001_PICKS[name]
    cfg = compose_config("train", [f"experiment={name}"])
    assert cfg.model.name == "vire_" + name.split("_")[2]
    assert (cfg.optimizer.lr, cfg.data.batch_size, cfg.trainer.max_epochs) == (lr, batch, epochs)
    assert cfg.init.name == init
    assert cfg.objective.metric == "val/loss"
    shears = [op.get("shear") for op in cfg.augmentation.ops]
    assert shears == ([10] if augmented else [])  # phase II: Table 6, shear in Keras degrees


# S000: each data set's most accurate row of its β table (Tables 3-6), all at m = 1.5, λ = 1.
S000_ROWS = {
    "s000_webemo": (1.0, 20),  # Table 3
    "s000_fi8": (0.5, 20),  # Table 4
    "s000_emoset118k": (1.0, 20),  # Table 5
    "s000_caers": (1.0, 50),  # Table 6
}


@pytest.mark.parametrize("name", sorted(S000_ROWS))
def test_s000_data_sets_use_a_table_row(name: str) -> None:
    beta, epochs = S000_ROWS[name]
    cfg = compose_config("train", [f"experiment={name}"])
    assert (cfg.loss.beta, cfg.loss.margin, cfg.loss.lambda_) == (beta, 1.5, 1.0)
    assert cfg.trainer.max_epochs == epochs
    assert cfg.data.decode_size == 256


@pytest.mark.parametrize(
    "sweep,key,grid,fixed",
    [
        ("s000_beta", "loss.beta", [0, 0.1, 0.3, 0.4, 0.5, 0.8, 1], {"margin": 1.5, "lambda_": 1}),
        ("s000_margin", "loss.margin", [1, 1.5, 3, 5, 10], {"beta": 0.5, "lambda_": 1}),
        ("s000_lambda", "loss.lambda_", [0.5, 1, 5, 100], {"beta": 0.5, "margin": 5}),
    ],
)
def test_s000_studies_vary_one_knob_at_the_papers_values(sweep, key, grid, fixed) -> None:
    raw = OmegaConf.load(SWEEPS / f"{sweep}.yaml")
    space = parse_search_space(raw.hydra.sweeper.params)
    assert [d.name for d in space.dimensions] == [key]
    assert space.dimension(key).grid() == grid
    assert raw.hydra.sweeper.sampler == "grid" and raw.hydra.sweeper.n_trials == len(grid)
    assert {k: raw.loss[k] for k in fixed} == fixed


@pytest.mark.parametrize("name", ["s002_resnet50v2", "s002_vit_b16", "s000_fi8"])
def test_imagenet_starts_say_what_to_do_offline(name, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    cfg = compose_config("train", [f"experiment={name}"])
    assert cfg.model.pretrained is True and cfg.model.checkpoint_path is None
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)  # a machine without network
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))  # and no cached weights
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg.model, num_classes=7)
    shown = one_line(user_error_of(caught.value))  # what the train entry point prints
    assert shown.startswith("error: model.pretrained=true: cannot fetch")
    assert "set model.checkpoint_path=<file>" in shown and "\n" not in shown
    assert shown.endswith("or train from scratch with model.pretrained=false")


def test_s002_vit_heads_are_a_visible_choice() -> None:
    cfg = compose_config("train", ["experiment=s002_vit_b16"])
    assert cfg.model.num_heads == 12  # ImageNet ViT-B/16; the paper's ViT has 8
    eight = compose_config("train", ["experiment=s002_vit_b16", "model.num_heads=8"])
    model = instantiate(eight.model, num_classes=7, pretrained=False, input_size=32)
    assert model.backbone.blocks[0].attn.num_heads == 8


def test_s004_public_code_variant_is_the_documented_override_list() -> None:
    header = (CONFIG_DIR / "experiment" / "s004_common.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(header) if "Its variant is these overrides" in line) + 1
    overrides = " ".join(line.lstrip("# ") for line in header[start + 1 : start + 3]).split()
    paper = compose_config("train", ["experiment=s004_resemotenet_fer2013"])
    code = compose_config("train", ["experiment=s004_resemotenet_fer2013", *overrides])
    assert paper.loss.class_weights == "balanced"
    assert code.loss.class_weights is None  # the code's cross-entropy is unweighted
    assert code.scheduler.scheduler is None
    assert (code.optimizer.momentum, code.optimizer.weight_decay) == (0.9, 1e-4)
    assert code.callbacks.early_stopping.patience == 15
    assert code.callbacks.early_stopping.monitor == "val/acc"
    assert (code.model.input_size, code.model.in_chans) == (64, 3)


def test_s003_padding_is_a_visible_choice() -> None:
    cfg = compose_config("train", ["experiment=s003_cnn4"])
    assert cfg.model.padding == "same"  # the paper is silent; Keras' default would be 'valid'
    same = instantiate(cfg.model, num_classes=7)
    valid = instantiate(cfg.model, num_classes=7, padding="valid")
    assert (same.dense.in_features, valid.dense.in_features) == (512 * 3 * 3, 512)
    x = torch.rand(2, 1, 48, 48)
    assert valid(x).shape == same(x).shape == (2, 7)
    with pytest.raises(InstantiationException, match="padding='full': must be 'same' or 'valid'"):
        instantiate(cfg.model, num_classes=7, padding="full")
    zoom = [op.get("zoom") for op in cfg.augmentation.ops if "RandomAffine" in op._target_]
    assert zoom == [[0.8, 1.2]]  # Keras' zoom_range 0.2, drawn per axis


# -- departures from the papers, fixed (each with its source in the experiment file) -----------


@pytest.mark.parametrize("name", ["s000_webemo", "s000_fi8", "s000_emoset118k", "s000_caers"])
def test_s000_starts_from_imagenet_weights_and_its_cpu_recipe_from_scratch(name: str) -> None:
    assert compose_config("train", [f"experiment={name}"]).model.pretrained is True
    assert compose_config("train", ["experiment=s000_synthetic"]).model.pretrained is False


def test_s001_reports_end_of_training_values() -> None:
    for model in ("cnn", "alexnet", "densenet"):
        cfg = compose_config("train", [f"experiment=s001_vire_{model}"])
        assert cfg.test.checkpoint == "last"
    assert compose_config("train").test.checkpoint == "best"


def test_s002_runs_its_five_fold_protocol() -> None:
    for name in ("s002_resnet50v2", "s002_vit_b16", "s002_alexcnn"):
        assert compose_config("train", [f"experiment={name}"]).cv.folds == 5


def test_s003_and_s004_follow_the_unweighted_validation_loss() -> None:
    s003 = compose_config("train", ["experiment=s003_cnn4"])
    assert s003.objective.metric == "val/loss_unweighted"
    assert s003.callbacks.early_stopping.monitor == "val/loss_unweighted"
    assert s003.callbacks.model_checkpoint.monitor == "val/loss_unweighted"
    assert s003.scheduler.monitor == "val/loss_unweighted"
    s004 = compose_config("train", ["experiment=s004_resemotenet_rafdb"])
    assert s004.scheduler.monitor == "val/loss_unweighted"
    assert s004.optimizer.momentum == 0.9  # the authors' code; the paper states none


@pytest.mark.parametrize(
    ("fusion", "width"), [("add", 4), ("concat", 8), ("multiply", 4), ("average", 4)]
)
def test_gram_module_fusions(fusion: str, width: int) -> None:
    from emotion_lab.models.gram_efficientnet import GramModule

    torch.manual_seed(0)
    module = GramModule(8, fusion).eval()
    x = torch.rand(3, 8, 5, 5)
    out = module(x)
    assert out.shape == (3, width) and module.out_features == width
    added = GramModule(8, "add").eval()
    added.load_state_dict(module.state_dict())
    if fusion == "average":
        assert torch.allclose(out, added(x) / 2)


def test_an_unknown_fusion_names_the_key() -> None:
    cfg = compose_config("train", ["experiment=s000_synthetic", "model.fusion=max"])
    with pytest.raises(InstantiationException, match="fusion='max': must be one of add, concat"):
        instantiate(cfg.model, num_classes=7)
