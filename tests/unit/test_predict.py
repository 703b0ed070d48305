"""Loading a checkpoint for inference, its preprocessing, predict's inputs and the exports.

The checkpoints here are written from an untrained module (no fit), in the layout training
writes, so these tests take seconds; tests/e2e/test_predict_e2e.py runs the commands on a
trained one.
"""

from __future__ import annotations

import csv
import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

import emotion_lab
from emotion_lab.app.config import compose_config
from emotion_lab.classifier.checkpoint import checkpoint_config
from emotion_lab.classifier.inference import Preprocess, build_inference_module, load_checkpoint
from emotion_lab.classifier.module import EmotionClassifier
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.data.errors import DataError
from emotion_lab.errors import CheckpointError, ConfigError, MissingFileError
from emotion_lab.export import export
from emotion_lab.predict import input_files, predict, write_csv
from tests.unit.test_datamodule import ArraySource

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _write_checkpoint(path: Path, overrides: tuple[str, ...] = ()) -> EmotionClassifier:
    """An untrained module of ``experiment=smoke`` saved as training saves it; returns it."""
    cfg = compose_config("train", ["experiment=smoke", *overrides], output_dir=str(path.parent))
    torch.manual_seed(0)
    module = build_inference_module(cfg, CLASSES).eval()
    state = {
        "state_dict": module.state_dict(),
        "emotion_lab": {"config": checkpoint_config(cfg), "classes": list(CLASSES)},
    }
    torch.save(state, path)
    return module


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EmotionClassifier]:
    path = tmp_path_factory.mktemp("ckpt") / "best.ckpt"
    return path, _write_checkpoint(path)


def _png(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def test_import_stays_cheap_and_exports_the_loader_lazily() -> None:
    import subprocess
    import sys

    code = "import sys, emotion_lab; print('torch' in sys.modules, 'lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert emotion_lab.load_checkpoint is load_checkpoint
    with pytest.raises(AttributeError):
        _ = emotion_lab.no_such_name


def test_the_loader_gives_the_modules_logits(checkpoint) -> None:
    path, module = checkpoint
    trained = emotion_lab.load_checkpoint(path)
    assert trained.classes == CLASSES and not trained.model.training
    x = torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module(x)
    assert torch.allclose(trained.logits(x), expected, atol=1e-6)
    lightning_way = EmotionClassifier.load_from_checkpoint(path)
    assert not lightning_way.training
    with torch.no_grad():
        assert torch.allclose(lightning_way(x), expected, atol=1e-6)


def test_preprocessing_is_the_datamodules_evaluation_path(tmp_path) -> None:
    """Same uint8 batch through Preprocess and through the datamodule's test batches."""
    cfg = OmegaConf.create(
        {
            "data": {
                "image_size": 20,
                "channels": 3,
                "decode_size": 24,
                "mean": [0.5, 0.4, 0.3],
                "std": [0.2],
                "source": {"_target_": "emotion_lab.data.formats.folders.ImageFolders"},
            }
        }
    )
    preprocess = Preprocess.from_config(cfg)
    assert (preprocess.decode_mode, preprocess.decode_at_size) == ("RGB", True)
    assert preprocess.stored_size == 24 and preprocess.std == (0.2, 0.2, 0.2)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 24, 24, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0])
    dm = EmotionDataModule(
        source=partial(ArraySource, {s: (images, labels) for s in ("train", "val", "test")}),
        image_size=20,
        channels=3,
        decode_size=24,
        mean=[0.5, 0.4, 0.3],
        std=[0.2],
    )
    dm.setup()
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    expected = dm.prepare_batch(batch, train=False)
    assert expected.shape == (4, 3, 20, 20)
    assert torch.allclose(preprocess(batch), expected)


def test_files_are_decoded_as_the_training_source_decoded_them(tmp_path) -> None:
    photo = _png(tmp_path / "photo.png", (60, 40))
    grey_source = {"_target_": "emotion_lab.data.synthetic_faces.SyntheticFer2013"}
    cfg = OmegaConf.create({"data": {"image_size": 48, "channels": 3, "source": grey_source}})
    grey = Preprocess.from_config(cfg)
    assert (grey.decode_mode, grey.decode_at_size) == ("L", False)
    batch = grey.load([photo])
    assert batch.shape == (1, 3, 48, 48) and batch.dtype == torch.uint8
    assert torch.equal(batch[:, 0], batch[:, 2])  # grey replicated, as FER2013 training saw it
    folder = Preprocess(48, 48, 3, "RGB", True)
    with Image.open(photo) as im:
        lanczos = np.asarray(im.convert("RGB").resize((48, 48), Image.Resampling.LANCZOS))
    assert np.array_equal(folder.load([photo])[0].permute(1, 2, 0).numpy(), lanczos)


def test_files_keep_the_aspect_rule_the_training_run_decoded_with(tmp_path) -> None:
    wide = np.full((20, 60, 3), 200, np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    source = {"_target_": "emotion_lab.data.formats.folders.ImageFolders"}
    for resize, corner in (("pad", 0), ("stretch", 200), ("shorter_side_center_crop", 200)):
        data = {"image_size": 30, "channels": 3, "source": source, "resize": resize}
        preprocess = Preprocess.from_config(OmegaConf.create({"data": data}))
        assert preprocess.resize == resize
        assert int(preprocess.load([tmp_path / "wide.png"])[0, 0, 0, 0]) == corner
    with pytest.raises(ConfigError, match="data.resize must be one of"):
        Preprocess.from_config(
            OmegaConf.create({"data": {"image_size": 30, "channels": 3, "resize": "squash"}})
        )


def test_an_unreadable_image_is_one_line_naming_it(tmp_path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    with pytest.raises(DataError, match=r"broken.png: cannot decode image \(") as info:
        Preprocess(48, 48, 1, "L", False).load([bad])
    assert "\n" not in str(info.value)


def test_input_is_a_file_a_folder_or_a_glob(tmp_path) -> None:
    a = _png(tmp_path / "faces" / "a.png", (48, 48))
    b = _png(tmp_path / "faces" / "deeper" / "b.jpg", (48, 48))
    (tmp_path / "faces" / "notes.txt").write_text("not an image")
    assert input_files(str(a)) == [a]
    assert input_files(str(tmp_path / "faces")) == [a, b]
    assert input_files(str(tmp_path / "faces" / "**" / "*")) == [a, b]
    with pytest.raises(MissingFileError, match=r"^input='.*nope.png': no such file or folder$"):
        input_files(str(tmp_path / "nope.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="the folder holds no image files"):
        input_files(str(tmp_path / "empty"))
    with pytest.raises(MissingFileError, match="the pattern matches no image files"):
        input_files(str(tmp_path / "*.gif"))


def test_predict_writes_one_row_per_image_with_the_loaders_probabilities(
    checkpoint, tmp_path
) -> None:
    path, _ = checkpoint
    files = [_png(tmp_path / "in" / f"{i}.png", (50 + i, 48), seed=i) for i in range(3)]
    cfg = compose_config(
        "predict", [f"ckpt_path={path}", f"input={tmp_path / 'in'}"], str(tmp_path / "run")
    )
    out = predict(cfg)
    assert out == tmp_path / "run" / "predictions.csv"
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(r["path"]) for r in rows] == files
    probs = load_checkpoint(path).predict(files)
    for row, p in zip(rows, probs.tolist(), strict=True):
        got = [float(row[f"p_{c}"]) for c in CLASSES]
        assert np.allclose(got, p, atol=1e-5) and abs(sum(got) - 1) < 1e-4
        assert row["predicted"] == CLASSES[int(np.argmax(p))]


class _StopsAfter(list):
    """A file list whose iteration is interrupted (Ctrl-C) after its first entry."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield self[0]
        raise KeyboardInterrupt


def test_an_interrupted_write_leaves_the_previous_csv_and_no_partial_one(tmp_path) -> None:
    out = tmp_path / "run" / "predictions.csv"
    probs = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    write_csv(out, [Path("a.png"), Path("b.png")], probs, ("x", "y"))
    before = out.read_text()
    with pytest.raises(KeyboardInterrupt):
        write_csv(out, _StopsAfter([Path("c.png"), Path("d.png")]), probs, ("x", "y"))
    assert out.read_text() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["predictions.csv"]  # no temp left


def test_not_a_checkpoint_is_one_line_naming_ckpt_path(tmp_path) -> None:
    text = tmp_path / "notes.ckpt"
    text.write_text("hello\n")
    with pytest.raises(CheckpointError, match=r"^ckpt_path='.*notes.ckpt': not a readable"):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not an emotion-lab checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(MissingFileError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.ckpt")


def _export(path: Path, tmp_path: Path, fmt: str) -> Path:
    cfg = compose_config("export", [f"ckpt_path={path}", f"format={fmt}"], str(tmp_path))
    return export(cfg)


def test_torchscript_export_gives_the_checkpoints_logits(checkpoint, tmp_path) -> None:
    path, module = checkpoint
    out = _export(path, tmp_path, "torchscript")
    assert out == tmp_path / "model.pt"
    x = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(x), module(x), atol=1e-5)


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="onnx and onnxruntime are not installed (pip install -e '.[dev]')",
)
def test_onnx_round_trip(checkpoint, tmp_path) -> None:
    import onnxruntime

    path, module = checkpoint
    out = _export(path, tmp_path, "onnx")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = torch.rand(6, 1, 48, 48)
    (logits,) = session.run(["logits"], {"images": x.numpy()})
    with torch.no_grad():
        assert np.allclose(logits, module(x).numpy(), atol=1e-4)


def test_an_unknown_export_format_names_the_key(checkpoint, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^format='tflite': expected one of onnx, torchscript"):
        _export(checkpoint[0], tmp_path, "tflite")
