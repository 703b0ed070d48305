"""The one LightningModule: any registered model × the configured loss × optimizer × schedule."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.optim import Optimizer
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from emotion_lab.classifier.build import build_classifier
from emotion_lab.classifier.checkpoint import STORED_KEY, read_run_checkpoint, stored_entry
from emotion_lab.errors import ConfigError
from emotion_lab.losses import EmotionLoss
from emotion_lab.metrics.outputs import TestOutputs
from emotion_lab.models.checkpoint import load_strict

OptimizerFactory = Callable[..., Optimizer]
SchedulerFactory = Callable[..., Any]


def hard_labels(labels: torch.Tensor) -> torch.Tensor:
    """Class indices of a batch's labels: themselves, or the argmax of soft targets (N×C)."""
    return labels.argmax(dim=1) if labels.dim() == 2 else labels


class EmotionClassifier(pl.LightningModule):
    """Trains ``model`` with ``loss``; keeps test-set embeddings for the clustering analysis.

    ``scheduler`` is a partial; when its signature has ``total_steps`` it is given the Trainer's
    estimate, so step-wise schedules need no hand-computed length in the config.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: EmotionLoss,
        optimizer: OptimizerFactory,
        classes: Sequence[str],
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str | None = None,
        run_config: dict[str, Any] | None = None,
        channels_last: bool = True,
        compile_model: bool = False,
    ) -> None:
        super().__init__()
        if scheduler_interval not in ("epoch", "step"):
            raise ConfigError(
                f"scheduler.interval must be 'epoch' or 'step', got {scheduler_interval!r}"
            )
        self.model = model
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.scheduler_monitor = scheduler_monitor
        self.classes = tuple(classes)
        self.run_config = run_config
        # One memory layout for every architecture: NHWC weights make the convs take and emit
        # NHWC maps (tensor cores on GPUs, much faster pooling on CPU); state_dict is unchanged.
        self.channels_last = channels_last
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.compile_model = compile_model
        self._compiled: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
        # validate_args=False: the data module checks labels once; per-batch checks would run
        # torch.unique and a host sync on every update.
        kw: dict[str, Any] = {"num_classes": len(self.classes), "validate_args": False}
        self.train_acc = MulticlassAccuracy(average="micro", **kw)
        self.val_metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(average="micro", **kw),
                "f1": MulticlassF1Score(average="macro", **kw),
            },
            prefix="val/",
        )
        self.test_metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(average="micro", **kw),
                "f1": MulticlassF1Score(average="macro", **kw),
                "precision": MulticlassPrecision(average="macro", **kw),
                "recall": MulticlassRecall(average="macro", **kw),
                "auroc": MulticlassAUROC(average="macro", **kw),
            },
            prefix="test/",
        )
        self.test_confusion = MulticlassConfusionMatrix(**kw)
        self.test_outputs = TestOutputs()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _step(
        self, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        images, labels = batch
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        embedding, logits = self._network()(images)
        terms = self.loss(logits, embedding, labels)
        regularization = getattr(self.model, "regularization_loss", None)
        if regularization is not None:
            terms["l2"] = regularization()
            terms["loss"] = terms["loss"] + terms["l2"]
        return terms, logits, embedding

    def _forward_network(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.model.forward_features(images)
        return embedding, self.model.forward_head(embedding)

    def _network(self) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """The model's forward, compiled on first use when ``compile_model`` (the loss, metrics
        and logging stay eager, so Lightning's hooks never break the graph)."""
        if not self.compile_model:
            return self._forward_network
        if self._compiled is None:
            self._compiled = torch.compile(self._forward_network)
        return self._compiled

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        terms, logits, _ = self._step(batch)
        self.train_acc.update(logits.detach(), hard_labels(batch[1]))
        self._log_terms("train", terms, batch[1].shape[0])
        # the running loss in the progress bar only; logs and W&B keep the epoch means above
        self.log("loss", terms["loss"].detach(), on_step=True, prog_bar=True, logger=False)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return terms["loss"]

    def _log_terms(self, stage: str, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        # sync_dist: epoch values are means over all ranks' samples, so every rank's early
        # stopping, checkpointing and ReduceLROnPlateau see the same number.
        for name, value in terms.items():
            self.log(
                f"{stage}/{name}",
                value.detach(),
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
                prog_bar=stage == "val" and name == "loss",
            )

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        terms, logits, _ = self._step(batch)
        self.val_metrics.update(logits, hard_labels(batch[1]))
        logged = {"loss": terms["loss"], "ce": terms["ce"]}
        if getattr(self.loss, "class_weight", None) is not None:
            # the same loss without class weights (Keras's val_loss), for schedules, early
            # stopping and checkpoints that follow what the papers monitored
            plain = self.loss.unweighted_ce(logits, batch[1])
            logged["loss_unweighted"] = terms["loss"] - terms["ce"] + plain
        else:
            logged["loss_unweighted"] = terms["loss"]
        self._log_terms("val", logged, batch[1].shape[0])
        # Metric objects: Lightning computes them once per epoch, reduced over all ranks by
        # torchmetrics itself, and resets them.
        self.log_dict(self.val_metrics, on_step=False, on_epoch=True, prog_bar=True)

    def on_test_epoch_start(self) -> None:
        self.test_outputs.reset()
        self.test_confusion.reset()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        terms, logits, embedding = self._step(batch)
        labels = hard_labels(batch[1])
        probs = logits.float().softmax(dim=1)
        self.test_metrics.update(probs, labels)
        self.test_confusion.update(probs, labels)
        self._log_terms("test", {"loss": terms["loss"]}, labels.shape[0])
        self.test_outputs.update(embedding, labels, probs)
        self.log_dict(self.test_metrics, on_step=False, on_epoch=True)

    def test_results(self) -> dict[str, torch.Tensor]:
        """Everything the analysis needs from the last test pass, gathered over all ranks.

        A collective under DDP: every rank must call it.
        """
        out = self.test_outputs.gathered()
        out["confusion"] = self.test_confusion.compute().cpu()
        centers = self.loss.centers
        if centers is not None:
            out["centers"] = centers.detach().float().cpu()
        return out

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        kwargs: dict[str, Any] = {}
        if "total_steps" in inspect.signature(self.scheduler_factory).parameters:
            kwargs["total_steps"] = int(self.trainer.estimated_stepping_batches)
        if "steps_per_epoch" in inspect.signature(self.scheduler_factory).parameters:
            _ = self.trainer.estimated_stepping_batches  # sets up the train loader if needed
            per_epoch = self.trainer.num_training_batches / self.trainer.accumulate_grad_batches
            kwargs["steps_per_epoch"] = max(1, int(-(-per_epoch // 1)))
        scheduler = self.scheduler_factory(optimizer, **kwargs)
        config: dict[str, Any] = {"scheduler": scheduler, "interval": self.scheduler_interval}
        if self.scheduler_monitor:
            config["monitor"] = self.scheduler_monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

    def on_fit_start(self) -> None:
        # Every rank starts from the run's seed (identical weights); ranks above 0 then move to
        # their own random stream so that they do not draw rank 0's augmentations.
        rank = self.trainer.global_rank
        if rank > 0:
            torch.manual_seed(torch.initial_seed() + rank)

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: Any, map_location: Any = "cpu", **kwargs: Any
    ) -> EmotionClassifier:
        """The trained module of an emotion-lab checkpoint, in eval mode.

        The constructor takes built objects (model, loss), not hyperparameters, so Lightning's
        loader cannot call it; the run config saved in the checkpoint rebuilds them instead
        (``emotion_lab.load_checkpoint`` also returns the classes and the preprocessing).
        Lightning's other arguments (``hparams_file``, ``strict``) do not apply and are ignored.
        """
        stored = read_run_checkpoint(checkpoint_path)
        module = build_classifier(cls, stored.config, stored.classes, for_weights=True)
        load_strict(module, stored.checkpoint["state_dict"], f"ckpt_path={str(checkpoint_path)!r}")
        return module.eval().to(map_location or "cpu")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[STORED_KEY] = stored_entry(self.run_config, self.classes)
