"""The GPU check's logic, run on the CPU: what it says without CUDA and what it measures."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from emotion_lab.bench import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_in_one_line_and_exits_zero(capsys, tmp_path) -> None:
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "no CUDA device" in out[0]
    assert not any(tmp_path.iterdir())  # nothing measured, nothing written


def test_device_probe_records_what_the_run_trained_on(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    probe = gpu_check.DeviceProbe(str(tmp_path))
    module = torch.nn.Linear(1, 1)
    module.device = torch.device("cpu")  # type: ignore[assignment]
    probe.on_fit_start(SimpleNamespace(is_global_zero=True), module)  # type: ignore[arg-type]
    record = json.loads((tmp_path / gpu_check.DEVICE_FILE).read_text())
    assert record["cuda_visible_devices"] == "3" and record["device"] == "cpu"


def test_report_files_are_written_whole_and_readable_by_others(tmp_path) -> None:
    report = gpu_check.Report()
    report.add("matmul", ratio=1.5)
    report.note("one note")
    out = tmp_path / "new" / "folder"
    report.write(out, {"device": "cpu"})
    assert json.loads((out / "gpu_check.json").read_text())["rows"] == [
        {"check": "matmul", "ratio": 1.5}
    ]
    assert "- note: one note" in (out / "gpu_check.md").read_text()
    assert {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()} == {
        "gpu_check.json": 0o644,
        "gpu_check.md": 0o644,
    }


@pytest.mark.slow
def test_cpu_smoke_runs_the_throughput_and_precision_checks(tmp_path) -> None:
    assert (
        gpu_check.main(["--cpu-smoke", "--out", str(tmp_path), "--only", "throughput", "precision"])
        == 0
    )
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["notes"] == []  # no check failed
    checks = {row["check"]: row for row in report["rows"]}
    ours = [r for name, r in checks.items() if "ResEmoteNet batch" in name or "S000 Gram" in name]
    assert len(ours) == 2 and all(r["ratio"] > 0 and 0 <= r["data_share"] < 1 for r in ours)
    assert checks["S000 bf16 against fp32 (ours)"]["speedup"] > 0
    assert {
        "bf16 against fp32 embeddings: ari",
        "ratio center loss, TF32 against fp32 matmul",
    } <= set(checks)
    assert (tmp_path / "gpu_check.md").read_text().startswith("# GPU check")
