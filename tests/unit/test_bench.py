"""The throughput benchmark's logic on a tiny run: what it counts and what it takes from config."""

from __future__ import annotations

import pytest
import torch

from emotion_lab.app.config import compose_config
from emotion_lab.bench.pipeline import LoopSettings, compare
from emotion_lab.callbacks.throughput import ThroughputMeter


def test_both_loops_count_the_real_samples_of_the_timed_steps() -> None:
    cfg = compose_config(overrides=["experiment=smoke", "data.batch_size=16"])
    results = compare(cfg, steps=6, warmup=2, repeats=1)
    for name in ("plain", "ours"):
        (run,) = results[name]
        assert run.samples == 4 * 16  # steps after warm-up, whole batches here
        assert run.seconds > 0 and 0 <= run.data_share < 1


def test_loop_settings_follow_the_trainer_config() -> None:
    gpu = compose_config(overrides=["trainer=gpu", "trainer.gradient_clip_val=5"]).trainer
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="trainer.accelerator=gpu"):
            LoopSettings.from_trainer(gpu)
    cpu = compose_config(
        overrides=["trainer.precision=bf16-mixed", "trainer.gradient_clip_val=5"]
    ).trainer
    settings = LoopSettings.from_trainer(cpu)
    assert settings.autocast_dtype == torch.bfloat16 and settings.clip_value == 5.0
    with settings.autocast():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled(
            "cpu"
        )
    weight = torch.nn.Parameter(torch.ones(3))
    weight.grad = torch.full((3,), 10.0)
    settings.clip(iter([weight]))
    assert float(weight.grad.norm()) == pytest.approx(5.0)


def test_meter_leaves_out_warm_up_and_counts_short_batches() -> None:
    meter = ThroughputMeter(warmup=1)
    for size in (8, 8, 3):
        meter.step_start()
        meter.step_end(size)
    assert meter.result().samples == 11
    with pytest.raises(ValueError, match="warm-up"):
        ThroughputMeter(warmup=5).result()
