"""What DDP costs: samples/s of N ranks against one process at the same total batch.

``python -m emotion_lab.bench.ddp [--ranks 2] [--batch 128] [overrides...]`` trains the same
config twice for a fixed number of steps, in fresh processes: once as one process with batch B
and all cores, once as N ranks (``trainer=ddp``; gloo on CPU, NCCL on GPUs) with batch B/N and
cores/N threads each. On CPU the ratio is the price of gradient all-reduce and of splitting the
cores; on one GPU per rank it is the scaling efficiency.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence

import lightning.pytorch as pl
import torch

from emotion_lab.app.config import compose_config
from emotion_lab.bench.pipeline import timed_trainer
from emotion_lab.callbacks.throughput import ThroughputCallback
from emotion_lab.run.builders import build_datamodule, build_module

RESULT_TAG = "BENCH_DDP_RESULT "


def run_worker(ranks: int, batch: int, steps: int, warmup: int, overrides: Sequence[str]) -> None:
    """One timed fit; rank 0 prints the samples/s summed over ranks."""
    trainer_group = "trainer=ddp" if ranks > 1 else "trainer=cpu"
    cfg = compose_config(
        "train",
        [trainer_group, *overrides, f"data.batch_size={batch}"],
        output_dir="outputs/bench_ddp",
    )
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule)
    module.scheduler_factory = None
    timer = ThroughputCallback(warmup)
    trainer = timed_trainer(cfg, steps, timer, devices=ranks)
    trainer.fit(module, datamodule=datamodule)
    got = timer.meter.result()
    samples = trainer.strategy.reduce(torch.tensor(float(got.samples)), reduce_op="sum")
    seconds = trainer.strategy.reduce(torch.tensor(got.seconds), reduce_op="max")
    if trainer.is_global_zero:
        record = {"ranks": ranks, "samples": float(samples), "seconds": float(seconds)}
        print(RESULT_TAG + json.dumps(record), flush=True)


def measure(ranks: int, batch: int, steps: int, warmup: int, overrides: Sequence[str]) -> float:
    """Samples/s of one worker run in a fresh process tree (the cores split between ranks)."""
    threads = max(1, (os.cpu_count() or 1) // ranks)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [
        sys.executable, "-m", "emotion_lab.bench.ddp", "--worker",
        f"--ranks={ranks}", f"--batch={batch}", f"--steps={steps}", f"--warmup={warmup}",
        *overrides,
    ]  # fmt: skip
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            record = json.loads(line[len(RESULT_TAG) :])
            return record["samples"] / record["seconds"]
    raise RuntimeError(f"the {ranks}-rank run printed no result:\n{proc.stderr[-3000:]}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128, help="total batch over all ranks")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    if args.batch % args.ranks:
        parser.error(f"--batch {args.batch} does not split evenly over {args.ranks} ranks")
    if args.worker:
        run_worker(args.ranks, args.batch, args.steps, args.warmup, args.overrides)
        return
    single = measure(1, args.batch, args.steps, args.warmup, args.overrides)
    ddp = measure(args.ranks, args.batch // args.ranks, args.steps, args.warmup, args.overrides)
    print(f"DDP overhead: total batch {args.batch}, {args.steps} steps, {os.cpu_count()} cores")
    print(f"1 process            : {single:9.1f} samples/s")
    print(
        f"{args.ranks} DDP ranks ({'gloo' if not torch.cuda.is_available() else 'nccl'})    : {ddp:9.1f} samples/s"
    )
    print(f"ratio DDP / 1 process = {ddp / single:.3f}")


if __name__ == "__main__":
    main()
