"""Samplers that keep evaluation exact under DDP.

Lightning gives every rank a ``DistributedSampler``, which pads the evaluation set with repeated
samples until it divides by the number of ranks, so gathered test metrics count some samples
twice. :class:`ContiguousShardSampler` instead hands rank ``r`` the ``r``-th contiguous slice of
the data set, unpadded: gathering the ranks' outputs in rank order gives back every sample once,
in data-set order, which is what makes a DDP test equal a single-process one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler


def shard_bounds(length: int, num_replicas: int, rank: int) -> tuple[int, int]:
    """``[start, stop)`` of ``rank``'s slice; the first ``length % num_replicas`` slices are one
    longer, as ``numpy.array_split`` cuts."""
    if not 0 <= rank < num_replicas:
        raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
    base, extra = divmod(length, num_replicas)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class ContiguousShardSampler(DistributedSampler):
    """Rank ``r`` reads slice ``r`` of the data set in order, with no padding and no shuffle.

    A ``DistributedSampler`` subclass, so Lightning leaves it in place instead of injecting its
    own padded one.
    """

    def __init__(self, dataset: Sized, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)  # type: ignore[arg-type]
        self.start, self.stop = shard_bounds(len(dataset), num_replicas, rank)
        self.num_samples = self.stop - self.start
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.num_samples


def per_rank_length(length: int, num_replicas: int) -> int:
    """Samples each rank trains on under Lightning's padded ``DistributedSampler``."""
    return math.ceil(length / num_replicas)
