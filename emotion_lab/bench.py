"""``make bench``: is our Lightning pipeline as fast as a hand-written PyTorch loop?

Both loops train the same model on the same in-memory data and the same batch indices, with the
same augmentation and loss; the ratio of their throughputs is the overhead Lightning, our module
and our logging add. Data loading is timed on its own to show it is not the bottleneck.
Overrides are Hydra overrides of the train config: ``make bench ARGS="model=cnn4 data.batch_size=64"``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import lightning.pytorch as pl
import torch

from emotion_lab.builders import build_datamodule, build_module
from emotion_lab.config import compose_config
from emotion_lab.data.datamodule import EmotionDataModule
from emotion_lab.module import EmotionClassifier


def plain_pytorch(
    module: EmotionClassifier, datamodule: EmotionDataModule, steps: int, seed: int
) -> float:
    """The loop a researcher would write by hand over the same DataLoader; samples per second."""
    model, loss_fn = module.model, module.loss
    optimizer = module.optimizer_factory(module.parameters())
    module.train()
    torch.manual_seed(seed)
    seen = 0
    start = time.perf_counter()
    for step, (images, labels) in enumerate(datamodule.train_dataloader()):
        if step == steps:
            break
        x = datamodule.prepare_batch(images, train=True)
        embedding = model.forward_features(x)
        loss = loss_fn(model.forward_head(embedding), embedding, labels)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(labels)
    return seen / (time.perf_counter() - start)


def lightning_pipeline(
    module: EmotionClassifier, datamodule: EmotionDataModule, steps: int, seed: int
) -> float:
    """Our LightningModule and DataModule under a Trainer, logging as in a real run."""
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    torch.manual_seed(seed)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    return steps * datamodule.batch_size / (time.perf_counter() - start)


def data_loading(datamodule: EmotionDataModule, steps: int) -> float:
    """Batches out of the DataLoader plus augmentation, with no model: samples per second."""
    seen = 0
    start = time.perf_counter()
    for step, (images, labels) in enumerate(datamodule.train_dataloader()):
        if step == steps:
            break
        datamodule.prepare_batch(images, train=True)
        seen += len(labels)
    return seen / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    cfg = compose_config("train", args.overrides, output_dir="outputs/bench")
    pl.seed_everything(cfg.seed)
    datamodule = build_datamodule(cfg)
    steps = min(args.steps, len(datamodule.train_dataloader()))
    ours: list[float] = []
    plain: list[float] = []
    for repeat in range(args.repeats + 1):  # the first round warms both up
        module = build_module(cfg, datamodule)
        module.scheduler_factory = None  # same optimizer, no schedule, in both loops
        speed_ours = lightning_pipeline(module, datamodule, steps, seed=repeat)
        speed_plain = plain_pytorch(build_module(cfg, datamodule), datamodule, steps, seed=repeat)
        if repeat:
            ours.append(speed_ours)
            plain.append(speed_plain)
    loading = data_loading(datamodule, steps)
    ratio = statistics.median(ours) / statistics.median(plain)
    print(
        f"model={cfg.model.name} batch={datamodule.batch_size} steps={steps} threads={torch.get_num_threads()}"
    )
    print(
        f"plain PyTorch loop : {statistics.median(plain):9.1f} samples/s  (runs: {', '.join(f'{v:.0f}' for v in plain)})"
    )
    print(
        f"emotion-lab (Lightning): {statistics.median(ours):9.1f} samples/s  (runs: {', '.join(f'{v:.0f}' for v in ours)})"
    )
    print(
        f"data loading alone : {loading:9.1f} samples/s  ({statistics.median(plain) / loading:.1%} of a plain step)"
    )
    print(
        f"throughput ratio ours/plain = {ratio:.3f}  (target >= 0.95: {'PASS' if ratio >= 0.95 else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
