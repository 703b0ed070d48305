"""``make bench``: is our Lightning pipeline as fast as a hand-written PyTorch loop?

Both loops train the same model on the same data with the same batches, augmentation, loss,
precision (autocast as ``trainer.precision`` says), gradient clipping, determinism and training
metric, on the device ``trainer.accelerator`` names; so their ratio is the overhead Lightning,
our module and our logging add. Both are timed by one :class:`ThroughputMeter` (device
synchronised, warm-up steps left out, real samples counted) and run in alternating order.
Overrides are Hydra overrides of the train config:
``make bench ARGS="trainer=gpu model=resemotenet data.batch_size=256"``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from emotion_lab.app.config import compose_config, gpu_else
from emotion_lab.callbacks.throughput import Throughput, ThroughputCallback, ThroughputMeter
from emotion_lab.classifier.module import EmotionClassifier, hard_labels
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.errors import ConfigError
from emotion_lab.run.builders import build_datamodule, build_module


@dataclass(frozen=True)
class LoopSettings:
    """What both loops take from ``cfg.trainer``."""

    device: torch.device
    autocast_dtype: torch.dtype | None
    clip_value: float | None
    clip_algorithm: str
    deterministic: bool
    benchmark: bool

    @classmethod
    def from_trainer(cls, trainer_cfg: DictConfig) -> LoopSettings:
        accelerator = str(trainer_cfg.accelerator)
        on_gpu = gpu_else(accelerator, True, False)  # the rule trainer=ddp's precision follows
        if on_gpu and not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={accelerator}: no CUDA device is visible")
        precision = str(trainer_cfg.precision)
        dtypes = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
        if precision not in (*dtypes, "32-true", "32"):
            raise ConfigError(f"trainer.precision={precision}: the benchmark runs 32, bf16 or 16")
        clip = trainer_cfg.get("gradient_clip_val")
        return cls(
            device=torch.device("cuda" if on_gpu else "cpu"),
            autocast_dtype=dtypes.get(precision),
            clip_value=None if clip is None else float(clip),
            clip_algorithm=str(trainer_cfg.get("gradient_clip_algorithm") or "norm"),
            deterministic=bool(trainer_cfg.get("deterministic")),
            benchmark=bool(trainer_cfg.get("benchmark")),
        )

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def clip(self, parameters: Iterator[torch.nn.Parameter]) -> None:
        if self.clip_value is None:
            return
        if self.clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(parameters, self.clip_value)
        else:
            torch.nn.utils.clip_grad_norm_(parameters, self.clip_value)

    def apply_globals(self) -> None:
        """The process-wide switches Lightning sets from the same keys."""
        torch.use_deterministic_algorithms(self.deterministic, warn_only=True)
        torch.backends.cudnn.benchmark = self.benchmark


def plain_pytorch(
    module: EmotionClassifier,
    datamodule: EmotionDataModule,
    settings: LoopSettings,
    steps: int,
    warmup: int,
    seed: int,
) -> Throughput:
    """The loop a researcher would write by hand over the same DataLoader."""
    settings.apply_globals()
    module.to(settings.device).train()
    model, loss_fn = module.model, module.loss
    optimizer = module.optimizer_factory(module.parameters())
    scaler = torch.amp.GradScaler(
        settings.device.type, enabled=settings.autocast_dtype == torch.float16
    )
    meter = ThroughputMeter(warmup, settings.device)
    torch.manual_seed(seed)
    loader = iter(datamodule.train_dataloader())
    for _ in range(steps):
        images, labels = next(loader)
        images = images.to(settings.device, non_blocking=True)
        labels = labels.to(settings.device, non_blocking=True)
        x = datamodule.prepare_batch(images, train=True)
        meter.step_start()
        with settings.autocast():
            embedding = model.forward_features(x)
            logits = model.forward_head(embedding)
            loss = loss_fn(logits, embedding, labels)["loss"]
        module.train_acc.update(logits.detach(), hard_labels(labels))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        settings.clip(module.parameters())
        scaler.step(optimizer)
        scaler.update()
        meter.step_end(int(labels.shape[0]))
    return meter.result()


def timed_trainer(
    cfg: DictConfig, steps: int, timer: ThroughputCallback, **settings: object
) -> pl.Trainer:
    """The configured Trainer for ``steps`` timed training steps: no validation, checkpoints,
    logs or progress bar, so that only training is measured."""
    return instantiate(
        cfg.trainer,
        max_epochs=-1,
        max_steps=steps,
        logger=False,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=None,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        **settings,
    )


def lightning_pipeline(
    cfg: DictConfig,
    module: EmotionClassifier,
    datamodule: EmotionDataModule,
    steps: int,
    warmup: int,
    seed: int,
) -> Throughput:
    """Our LightningModule and DataModule under the configured Trainer, logging as in a run."""
    timer = ThroughputCallback(warmup)
    trainer = timed_trainer(cfg, steps, timer, devices=1, strategy="auto")
    torch.manual_seed(seed)
    trainer.fit(module, datamodule=datamodule)
    return timer.meter.result()


def fresh_module(
    cfg: DictConfig, datamodule: EmotionDataModule, compile_model: bool
) -> EmotionClassifier:
    module = build_module(cfg, datamodule)
    module.scheduler_factory = None  # same optimizer, no schedule, in both loops
    if compile_model:
        module.model = torch.compile(module.model)  # type: ignore[assignment]
    return module


def _runs(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def compare(
    cfg: DictConfig, steps: int, warmup: int, repeats: int, compile_model: bool = False
) -> dict[str, list[Throughput]]:
    """Alternate the two loops ``repeats`` times after one warm-up round of each."""
    settings = LoopSettings.from_trainer(cfg.trainer)
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = build_datamodule(cfg)
    available = len(datamodule.train_dataloader())
    if steps > available:
        raise ConfigError(f"--steps {steps}: one epoch has only {available} batches")
    if steps <= warmup:
        raise ConfigError(f"--steps {steps} must exceed the {warmup} warm-up steps")
    results: dict[str, list[Throughput]] = {"plain": [], "ours": []}
    for repeat in range(repeats + 1):  # round 0 warms both up and is not kept
        order = ("ours", "plain") if repeat % 2 == 0 else ("plain", "ours")
        for name in order:
            module = fresh_module(cfg, datamodule, compile_model)
            if name == "ours":
                got = lightning_pipeline(cfg, module, datamodule, steps, warmup, seed=repeat)
            else:
                got = plain_pytorch(module, datamodule, settings, steps, warmup, seed=repeat)
            if repeat:
                results[name].append(got)
    return results


def report(cfg: DictConfig, results: dict[str, list[Throughput]], target: float) -> float:
    plain = [r.samples_per_s for r in results["plain"]]
    ours = [r.samples_per_s for r in results["ours"]]
    ratio = statistics.median(ours) / statistics.median(plain)
    data_share = statistics.median(r.data_share for r in results["ours"])
    print(
        f"model={cfg.model.name} batch={cfg.data.batch_size} precision={cfg.trainer.precision} "
        f"accelerator={cfg.trainer.accelerator} threads={torch.get_num_threads()}"
    )
    print(f"plain PyTorch loop     : {statistics.median(plain):9.1f} samples/s  ({_runs(plain)})")
    print(f"emotion-lab (Lightning): {statistics.median(ours):9.1f} samples/s  ({_runs(ours)})")
    print(f"data time share of a step (ours): {data_share:.1%}")
    verdict = "PASS" if ratio >= target else "FAIL"
    print(f"throughput ratio ours/plain = {ratio:.3f}  (target >= {target}: {verdict})")
    return ratio


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model in both")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    cfg = compose_config("train", args.overrides, output_dir="outputs/bench")
    results = compare(cfg, args.steps, args.warmup, args.repeats, compile_model=args.compile)
    report(cfg, results, args.target)


if __name__ == "__main__":
    main()
