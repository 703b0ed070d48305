"""A trained ``experiment=smoke`` checkpoint through the real commands: predict on a folder the
test writes, export with its check, evaluate from another folder, bad inputs, ``debug=fdr``."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lab import load_checkpoint
from tests.e2e.app_cli import app_env, run_module

pytestmark = pytest.mark.slow

SMOKE = ("experiment=smoke", "logger=csv", "callbacks.analysis.umap=false")


def _env() -> dict[str, str]:
    return {k: v for k, v in app_env().items() if k != "EMOTION_LAB_DATA"}


def _run(cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_module(f"emotion_lab.{module}", *args, cwd=cwd, env=_env(), check=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root holding project/ (trained there, data in project/data) and its best checkpoint."""
    root = tmp_path_factory.mktemp("predict_e2e")
    project = root / "project"
    project.mkdir()
    proc = _run(project, "train", *SMOKE, f"hydra.run.dir={project / 'run'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (project / "run" / "checkpoints" / "best.ckpt").is_file()
    return root


def _faces(folder: Path, n: int = 4) -> list[Path]:
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        size = (48 + 8 * i, 48)
        mode, shape = ("RGB", (48, size[0], 3)) if i % 2 else ("L", (48, size[0]))
        path = folder / ("nested" if i == 3 else "") / f"face{i}.{'jpg' if i % 2 else 'png'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
        files.append(path)
    return sorted(files)


def test_predict_on_a_folder_prints_and_writes_every_image(trained) -> None:
    ckpt = trained / "project" / "run" / "checkpoints" / "best.ckpt"
    files = _faces(trained / "faces")
    out = trained / "predict_run"
    proc = _run(trained, "predict", f"ckpt_path={ckpt}", "input=faces", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "emotion-lab predictions" in proc.stdout and "face0.png" in proc.stdout
    with (out / "predictions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    model = load_checkpoint(ckpt)
    assert [trained / r["path"] for r in rows] == files
    probs = model.predict(files).numpy()
    for row, p in zip(rows, probs, strict=True):
        assert row["predicted"] == model.classes[int(p.argmax())]
        got = [float(row[f"p_{c}"]) for c in model.classes]
        assert np.allclose(got, p, atol=1e-5)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_writes_the_file_and_checks_its_logits(trained, fmt) -> None:
    if fmt == "onnx" and importlib.util.find_spec("onnx") is None:
        pytest.skip("onnx is not installed (pip install -e '.[dev]')")
    ckpt = trained / "project" / "run" / "checkpoints" / "best.ckpt"
    out = trained / f"export_{fmt}"
    proc = _run(trained, "export", f"ckpt_path={ckpt}", f"format={fmt}", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / f"model.{'onnx' if fmt == 'onnx' else 'pt'}").is_file()
    if fmt == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        assert "skipping the ONNX check" in proc.stdout
    else:
        assert "same logits" in proc.stdout


def test_evaluate_from_another_folder_reads_the_training_data(trained) -> None:
    ckpt = trained / "project" / "run" / "checkpoints" / "best.ckpt"
    elsewhere = trained / "elsewhere"
    elsewhere.mkdir()
    proc = _run(elsewhere, "evaluate", f"ckpt_path={ckpt}", "logger=csv", "hydra.run.dir=ev")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (elsewhere / "data").exists()
    assert "test/acc" in proc.stdout


def test_bad_inputs_are_one_line_and_exit_2(trained) -> None:
    ckpt = trained / "project" / "run" / "checkpoints" / "best.ckpt"
    (trained / "notes.ckpt").write_text("not a checkpoint\n")
    (trained / "empty").mkdir()
    (trained / "broken").mkdir()
    (trained / "broken" / "face.png").write_text("not an image\n")
    cases = {
        "no such file": ("predict", f"ckpt_path={ckpt}", "input=absent.png"),
        "not a readable checkpoint": ("predict", "ckpt_path=notes.ckpt", "input=broken"),
        "face.png: cannot decode image": ("predict", f"ckpt_path={ckpt}", "input=broken"),
        "the folder holds no image files": ("predict", f"ckpt_path={ckpt}", "input=empty"),
        "expected one of onnx, torchscript": ("export", f"ckpt_path={ckpt}", "format=tflite"),
        "no such checkpoint file": ("export", "ckpt_path=absent.ckpt"),
    }
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda a: _run(trained, *a), cases.values()))
    procs = dict(zip(cases, results, strict=True))
    for named, proc in procs.items():
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (named, proc.stderr[-2000:])
        assert lines[-1].startswith("error: ") and named in lines[-1], (named, lines)
        assert "Traceback" not in proc.stderr


def test_the_installed_command_runs_the_same_app(trained) -> None:
    command = Path(sys.executable).parent / "emotion-lab-predict"
    if not command.exists():
        pytest.skip("emotion-lab is not installed in this environment (pip install -e .)")
    proc = subprocess.run(
        [str(command), "ckpt_path=absent.ckpt", "input=absent.png"],
        cwd=trained,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1] == "error: input='absent.png': no such file or folder"
    )


def test_debug_fdr_runs_one_batch_of_each_stage(trained) -> None:
    project = trained / "project"
    out = project / "fdr"
    proc = _run(project, "train", *SMOKE, "debug=fdr", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fast_dev_run" in proc.stdout + proc.stderr  # Lightning says so
    assert not (out / "checkpoints" / "best.ckpt").exists()  # no checkpointing in fast_dev_run
    assert (out / "test_metrics.json").is_file()
