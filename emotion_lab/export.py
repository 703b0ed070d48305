"""``python -m emotion_lab.export ckpt_path=<file> format=onnx|torchscript``.

Writes the trained network (preprocessed float images N×C×S×S in, logits out; the batch size
is free) and checks the file: the exported model must give the eager model's logits on a
seeded batch. TorchScript is always checked; ONNX through onnxruntime when it is installed,
otherwise the check is skipped with a printed line.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torch import nn

from emotion_lab.app.config import register_resolvers
from emotion_lab.app.entry import one_line_errors, run_app
from emotion_lab.classifier.inference import TrainedModel, load_checkpoint
from emotion_lab.errors import ConfigError, UserError
from emotion_lab.run.summary import print_summary

log = logging.getLogger(__name__)
register_resolvers()

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
CHECK_BATCH = 2


class ExportMismatch(UserError):
    """The exported file does not reproduce the eager model's logits within tolerance."""


def example_batch(trained: TrainedModel, n: int = CHECK_BATCH, seed: int = 0) -> torch.Tensor:
    """A seeded batch shaped like the model's preprocessed input."""
    p = trained.preprocess
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((n, p.channels, p.image_size, p.image_size), generator=generator)


def export_torchscript(net: nn.Module, example: torch.Tensor, out: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # jit is deprecated but still the format
        traced = torch.jit.trace(net, example)
    traced.save(str(out))


def export_onnx(net: nn.Module, example: torch.Tensor, out: Path, opset: int | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            str(out),
            dynamo=False,  # the tracing exporter needs no onnxscript
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
        )


def exported_logits(fmt: str, out: Path, batch: torch.Tensor) -> torch.Tensor | None:
    """Logits of the exported file on ``batch``; None when no runtime for ``fmt`` is installed."""
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(out), map_location="cpu")(batch).float()
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": batch.numpy()})
    return torch.from_numpy(logits).float()


def export(cfg: DictConfig) -> Path:
    """Write ``cfg.ckpt_path``'s network as ``cfg.format`` and check its logits; returns the file."""
    fmt = str(cfg.format)
    if fmt not in SUFFIXES:
        raise ConfigError(f"format={fmt!r}: expected one of {', '.join(SUFFIXES)}")
    trained = load_checkpoint(cfg.ckpt_path)
    net = trained.model.model.eval()
    default = Path(cfg.paths.output_dir) / f"model{SUFFIXES[fmt]}"
    out = Path(cfg.output) if cfg.get("output") else default
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx" and importlib.util.find_spec("onnx") is None:
        raise ConfigError("format=onnx needs the onnx package: pip install onnx onnxruntime")
    with torch.no_grad():
        if fmt == "torchscript":
            export_torchscript(net, example_batch(trained), out)
        else:
            export_onnx(net, example_batch(trained), out, cfg.get("opset"))
        # another batch size than the traced one: the exported batch axis must be free
        batch = example_batch(trained, n=CHECK_BATCH + 1, seed=1)
        expected = net(batch).float()
    got = exported_logits(fmt, out, batch)
    rows: dict[str, object] = {"checkpoint": cfg.ckpt_path, "format": fmt, "file": str(out)}
    if got is None:
        print("skipping the ONNX check: onnxruntime is not installed (pip install onnxruntime)")
        rows["check"] = "skipped (no onnxruntime)"
    else:
        diff = float((got - expected).abs().max())
        if not torch.allclose(got, expected, rtol=1e-3, atol=float(cfg.atol)):
            raise ExportMismatch(
                f"{out}: exported logits differ from the checkpoint's by up to {diff:.3g} "
                f"(atol={cfg.atol})"
            )
        rows["check"] = f"same logits (max abs diff {diff:.2g})"
    print_summary(rows, title="emotion-lab export")
    return out


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
@one_line_errors
def main(cfg: DictConfig) -> None:
    export(cfg)


if __name__ == "__main__":
    run_app(main, "export")
