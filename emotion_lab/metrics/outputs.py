"""Per-sample test outputs (embeddings, labels, probabilities) gathered over every DDP rank.

The clustering analysis needs the whole test set at once. Keeping the outputs as torchmetrics
``cat`` states makes the gather one ``compute()`` away on any number of ranks; with the
contiguous shard sampler the gathered rows come back in data-set order, each sample once.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

FIELDS = ("embeddings", "labels", "probs")


class TestOutputs(Metric):
    """Collects rows per step; ``compute`` returns them concatenated over steps and ranks."""

    __test__ = False  # not a pytest test class despite the name
    full_state_update = False

    embeddings: list[torch.Tensor]
    labels: list[torch.Tensor]
    probs: list[torch.Tensor]

    def __init__(self) -> None:
        super().__init__()  # states stay on the device: NCCL gathers only device tensors
        for name in FIELDS:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, embeddings: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor) -> None:
        # float32: half-precision embeddings would distort the distances the analysis uses
        self.embeddings.append(embeddings.detach().float())
        self.labels.append(labels.detach().long())
        self.probs.append(probs.detach().float())

    def gathered(self) -> dict[str, torch.Tensor]:
        """The rows of all steps and ranks (a collective under DDP), copied to the CPU.

        Not ``compute()``: torchmetrics squeezes one-element results, which would turn the
        labels of a one-sample test set into a scalar.
        """
        with self.sync_context():
            return {name: dim_zero_cat(getattr(self, name)).cpu() for name in FIELDS}

    def compute(self) -> dict[str, torch.Tensor]:
        return self.gathered()
