"""``make gpu-check``: the GPU path measured in one short run on a CUDA machine.

What it prints (and writes to ``<out>/gpu_check.md`` and ``.json``):

1. samples/s of our Lightning pipeline against a hand-written loop with the same settings
   (bf16, channels_last, clipping) for the S000 model (Gram-EfficientNetV2-S, 224 px, batch 256)
   and ResEmoteNet at full width (64 px, batch 16 and 256), with their ratio;
2. the data time share of a step (loading + uint8 → float + augmentation on the device);
3. a 4-trial Optuna sweep of the S000 recipe through ``hydra/launcher=process``: the sweep's busy
   share (training seconds over wall time) and whether each trial saw exactly the GPU it was given;
4. a 2-rank DDP trial when the machine has two GPUs (it says so when it has one);
5. throughput with ``performance.compile`` on and off, and bf16 against fp32 on the S000 model;
6. whether bf16 moves the embedding analysis (δ, ASR, ARI against 32-true on the same weights)
   and whether TF32 matmuls change the ratio-form center loss.

Without CUDA it says so in one line and exits 0. ``--cpu-smoke`` runs the same logic on the CPU
with a tiny model and few steps, for the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from emotion_lab import files
from emotion_lab.app.config import compose_config
from emotion_lab.bench.pipeline import compare, fresh_module, lightning_pipeline
from emotion_lab.run.builders import build_datamodule

DEVICE_FILE = "device.json"


class DeviceProbe(pl.Callback):
    """Writes which device a run trained on and what CUDA let it see, into its run folder."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        record = {
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "device_count": torch.cuda.device_count(),
            "device": str(pl_module.device),
            "name": torch.cuda.get_device_name(pl_module.device)
            if torch.cuda.is_available()
            else "cpu",
        }
        files.write_json(self.output_dir / DEVICE_FILE, record, indent=None)


@dataclass
class Settings:
    """Sizes of the check: the GPU run, or the CPU smoke run of its logic."""

    accelerator: str
    s000: list[str]
    resemotenet: list[str]
    batches: tuple[int, ...]
    s000_batch: int
    steps: int
    warmup: int
    sweep_trials: int
    sweep_steps: int

    @classmethod
    def gpu(cls) -> Settings:
        return cls(
            accelerator="gpu",
            s000=["model=gram_efficientnet", "data.decode_size=null"],
            resemotenet=["model=resemotenet"],
            batches=(16, 256),
            s000_batch=256,
            steps=40,
            warmup=10,
            sweep_trials=4,
            sweep_steps=30,
        )

    @classmethod
    def cpu_smoke(cls) -> Settings:
        return cls(
            accelerator="cpu",
            s000=["model=gram_efficientnet_tiny", "data.decode_size=null"],
            resemotenet=["model=resemotenet", "model.width=0.0625"],
            batches=(8,),
            s000_batch=8,
            steps=4,
            warmup=1,
            sweep_trials=2,
            sweep_steps=2,
        )

    def trainer(self, precision: str) -> list[str]:
        """The GPU run trains as asked; the CPU smoke run stays in fp32, which CPUs do fast."""
        if self.accelerator == "gpu":
            return ["trainer=gpu", f"trainer.precision={precision}"]
        return ["trainer=cpu", "trainer.precision=32-true"]


@dataclass
class Report:
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, check: str, **values: Any) -> None:
        row = {"check": check, **values}
        self.rows.append(row)
        print("  " + " | ".join(f"{k}={_fmt(v)}" for k, v in row.items()), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def write(self, out: Path, header: dict[str, Any]) -> None:
        files.write_json(
            out / "gpu_check.json", {"header": header, "rows": self.rows, "notes": self.notes}
        )
        lines = ["# GPU check", ""] + [f"- {k}: {v}" for k, v in header.items()] + [""]
        for row in self.rows:
            lines.append("- " + ", ".join(f"{k}: {_fmt(v)}" for k, v in row.items()))
        lines += [""] + [f"- note: {n}" for n in self.notes]
        files.write_text(out / "gpu_check.md", "\n".join(lines) + "\n")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _compose(*overrides: str) -> Any:
    base = ["experiment=smoke", "logger=csv", "data.source.n=4000", "callbacks.analysis.umap=false"]
    return compose_config("train", [*base, *overrides], output_dir="outputs/gpu_check/composed")


def throughput(settings: Settings, report: Report) -> None:
    """Checks 1, 2 and 5: ours against the plain loop, data share, compile, bf16 against fp32."""
    cases = [("S000 Gram-EfficientNetV2-S", settings.s000, settings.s000_batch)]
    cases += [("ResEmoteNet", settings.resemotenet, b) for b in settings.batches]
    for label, model, batch in cases:
        cfg = _compose(*settings.trainer("bf16-mixed"), *model, f"data.batch_size={batch}")
        got = compare(cfg, settings.steps, settings.warmup, repeats=1)
        ours, plain = got["ours"][0], got["plain"][0]
        report.add(
            f"{label} batch {batch} {cfg.trainer.precision}",
            plain_samples_s=plain.samples_per_s,
            ours_samples_s=ours.samples_per_s,
            ratio=ours.samples_per_s / plain.samples_per_s,
            data_share=ours.data_share,
        )
    cfg32 = _compose(
        *settings.trainer("32-true"), *settings.s000, f"data.batch_size={settings.s000_batch}"
    )
    cfg16 = _compose(
        *settings.trainer("bf16-mixed"), *settings.s000, f"data.batch_size={settings.s000_batch}"
    )
    speeds = {}
    for name, cfg in (("fp32", cfg32), ("bf16", cfg16)):
        datamodule = build_datamodule(cfg)
        module = fresh_module(cfg, datamodule, compile_model=False)
        speeds[name] = lightning_pipeline(
            cfg, module, datamodule, settings.steps, settings.warmup, 0
        )
    report.add(
        "S000 bf16 against fp32 (ours)",
        fp32_samples_s=speeds["fp32"].samples_per_s,
        bf16_samples_s=speeds["bf16"].samples_per_s,
        speedup=speeds["bf16"].samples_per_s / speeds["fp32"].samples_per_s,
    )


def compile_speed(settings: Settings, report: Report) -> None:
    """Check 5b: ResEmoteNet with ``performance.compile`` off and on."""
    batch = settings.batches[-1]
    cfg = _compose(
        *settings.trainer("bf16-mixed"), *settings.resemotenet, f"data.batch_size={batch}"
    )
    datamodule = build_datamodule(cfg)
    compiled = {}
    for flag in (False, True):
        module = fresh_module(cfg, datamodule, compile_model=flag)
        # compilation happens in the first steps: give it room before the timer starts
        compiled[flag] = lightning_pipeline(
            cfg, module, datamodule, settings.steps + settings.warmup, 2 * settings.warmup, 0
        )
    report.add(
        f"ResEmoteNet batch {batch} torch.compile",
        eager_samples_s=compiled[False].samples_per_s,
        compiled_samples_s=compiled[True].samples_per_s,
        speedup=compiled[True].samples_per_s / compiled[False].samples_per_s,
    )


def precision_effects(settings: Settings, report: Report) -> None:
    """Check 6: the analysis of bf16 embeddings against fp32 ones, and TF32 in the ratio loss."""
    from emotion_lab.losses.contrastive_center import ContrastiveCenterLoss
    from emotion_lab.metrics.embedding import embedding_report

    cfg = _compose(
        *settings.trainer("bf16-mixed"), *settings.s000, f"data.batch_size={settings.s000_batch}"
    )
    datamodule = build_datamodule(cfg)
    module = fresh_module(cfg, datamodule, compile_model=False)
    lightning_pipeline(cfg, module, datamodule, settings.steps, settings.warmup, 0)  # some training
    device = torch.device("cuda" if settings.accelerator == "gpu" else "cpu")
    module.to(device).eval()
    split = datamodule.splits["test"]
    batch = list(range(min(len(split), 1024)))
    images, labels = split.__getitems__(batch)
    x = datamodule.prepare_batch(images.to(device), train=False)
    results = {}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            emb, _ = module._forward_network(x)
        results[name] = embedding_report(
            emb.float().cpu().numpy(), labels.numpy(), datamodule.num_classes, seed=0
        )
    for key in ("delta", "asr_kmeans", "ari", "nmi"):
        report.add(
            f"bf16 against fp32 embeddings: {key}",
            fp32=float(results["fp32"][key]),
            bf16=float(results["bf16"][key]),
            diff=float(results["bf16"][key]) - float(results["fp32"][key]),
        )
    loss = ContrastiveCenterLoss(7, 136, form="ratio").to(device)
    emb = torch.randn(256, 136, device=device) * 3
    y = torch.randint(0, 7, (256,), device=device)
    values = {}
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        with torch.no_grad():
            values[tf32] = float(loss(emb, y).total)
    torch.backends.cuda.matmul.allow_tf32 = False
    report.add(
        "ratio center loss, TF32 against fp32 matmul",
        fp32=values[False],
        tf32=values[True],
        rel_diff=abs(values[True] - values[False]) / abs(values[False]),
    )


def sweep(settings: Settings, report: Report, out: Path) -> None:
    """Check 3: a 4-trial S000 sweep through the process launcher, one GPU per trial."""
    from emotion_lab.bench.sweep import sweep_overhead

    sweep_dir = (out / "sweep").resolve()
    gpus = "auto" if settings.accelerator == "gpu" else "none"
    command = [
        sys.executable, "-m", "emotion_lab.train", "-m",
        "experiment=smoke", "logger=csv", "data.source.n=4000", "callbacks.analysis.umap=false",
        *settings.trainer("bf16-mixed"), *settings.s000, f"data.batch_size={settings.s000_batch}",
        "test.enabled=false", "trainer.max_epochs=1", f"trainer.limit_train_batches={settings.sweep_steps}",
        "trainer.limit_val_batches=2", "callbacks.progress_bar=null",
        "hydra/sweeper=optuna", "hydra/launcher=process", f"hydra.launcher.gpus={gpus}",
        f"hydra.sweeper.n_trials={settings.sweep_trials}", "hydra.sweeper.study_name=gpu_check",
        f"hydra.sweeper.n_jobs={max(1, torch.cuda.device_count())}",
        "optimizer.lr=tag(log,interval(1e-3,5e-2))", "loss.beta=interval(0,1)",
        "+callbacks.device_probe._target_=emotion_lab.bench.gpu_check.DeviceProbe",
        "+callbacks.device_probe.output_dir=${paths.output_dir}",
        f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        report.note(f"sweep failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
        return
    overhead = sweep_overhead(sweep_dir)
    seen = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob(f"*/{DEVICE_FILE}"))]
    one_each = all(
        (r["device_count"] == 1 and r["device"].startswith("cuda"))
        if settings.accelerator == "gpu"
        else r["device"] == "cpu"
        for r in seen
    )
    report.add(
        f"{settings.sweep_trials}-trial S000 sweep, process launcher",
        trials=overhead.n_trials,
        busy_share=overhead.training_share,
        launch_to_first_step_s=overhead.launch_to_first_step_s.mean,
        wall_s=wall,
        devices_seen=",".join(str(r["cuda_visible_devices"]) for r in seen),
        one_gpu_each=one_each and len(seen) == settings.sweep_trials,
    )


def ddp(settings: Settings, report: Report, out: Path) -> None:
    """Check 4: one 2-rank DDP run, where two GPUs exist."""
    if settings.accelerator == "gpu" and torch.cuda.device_count() < 2:
        report.note(
            f"{torch.cuda.device_count()} GPU on this machine: the 2-rank DDP trial is not run"
        )
        return
    command = [
        sys.executable, "-m", "emotion_lab.train", "experiment=smoke", "logger=csv",
        "trainer=ddp", "trainer.devices=2", f"trainer.accelerator={settings.accelerator}",
        "callbacks.progress_bar=null", f"hydra.run.dir={(out / 'ddp').resolve()}",
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    report.add("2-rank DDP run", exit_code=proc.returncode, wall_s=time.perf_counter() - started)


CHECKS: dict[str, Callable[..., None]] = {
    "throughput": lambda s, r, o: throughput(s, r),
    "compile": lambda s, r, o: compile_speed(s, r),
    "precision": lambda s, r, o: precision_effects(s, r),
    "sweep": sweep,
    "ddp": ddp,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="outputs/gpu_check", type=Path)
    parser.add_argument("--cpu-smoke", action="store_true", help="the logic on CPU, tiny sizes")
    parser.add_argument("--only", nargs="*", choices=list(CHECKS), default=list(CHECKS))
    args = parser.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("gpu-check: no CUDA device is visible here; nothing to measure (exit 0)")
        return 0
    settings = Settings.cpu_smoke() if args.cpu_smoke else Settings.gpu()
    header = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "gpus": torch.cuda.device_count(),
        "mode": "cpu-smoke" if args.cpu_smoke else "gpu",
    }
    print("gpu-check: " + ", ".join(f"{k}={v}" for k, v in header.items()), flush=True)
    report = Report()
    for name in args.only:
        print(f"[{name}]", flush=True)
        try:
            CHECKS[name](settings, report, args.out)
        except Exception as exc:  # one failing check must not hide the others' figures
            report.note(f"{name} check failed: {type(exc).__name__}: {exc}")
        report.write(args.out, header)
    print(f"gpu-check: table in {args.out / 'gpu_check.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
