"""Run records are written whole and readable by others (a comparison may read them meanwhile)."""

from __future__ import annotations

import json
import math
import stat

from omegaconf import OmegaConf

from emotion_lab.run.records import (
    CONFIG_FILE,
    OVERRIDES_FILE,
    write_run_record,
    write_sub_run_config,
)


def test_records_are_whole_shared_files_without_temp_leftovers(tmp_path) -> None:
    parent = tmp_path / "parent"
    (parent / OVERRIDES_FILE).parent.mkdir(parents=True)
    (parent / OVERRIDES_FILE).write_text("- seed=1\n")
    run = tmp_path / "seed_1"
    path = write_run_record(run, metrics={"test/ari": math.nan}, objective=0.5, seed=1)
    write_sub_run_config(run, OmegaConf.create({"seed": 1, "x": "${seed}"}), parent)
    doc = json.loads(path.read_text())
    assert doc["objective"] == 0.5 and math.isnan(doc["metrics"]["test/ari"])
    assert OmegaConf.load(run / CONFIG_FILE).x == 1  # saved resolved
    assert (run / OVERRIDES_FILE).read_text() == "- seed=1\n"
    written = [p for p in run.rglob("*") if p.is_file()]
    assert sorted(p.name for p in written) == ["config.yaml", "overrides.yaml", "test_metrics.json"]
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044 for p in written)
