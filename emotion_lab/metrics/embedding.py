"""Cluster analysis of penultimate-layer embeddings: k-means ARI/NMI and the ambiguous sample ratio.

The ambiguous sample ratio (ASR) needs a distance threshold delta taken from the distribution of
all pairwise distances between test embeddings. A test set of 20,000 samples has 2*10^8 pairs,
so :func:`ambiguity_threshold` never materialises the n x n matrix: a float32 BLAS pass screens
the pairs (float64 when clusters are too tight for float32), and only the few pairs whose
screened value lies near the target rank are recomputed exactly in float64. The result equals a
brute-force sort of the float64 distances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

__all__ = [
    "ambiguity_threshold",
    "ambiguous_sample_ratio",
    "center_distance_matrix",
    "clustering_scores",
    "embedding_report",
    "kmeans_clustering",
    "pair_rank",
    "pairwise_distances",
]

# Above this many samples full-batch k-means (n_init restarts) gets slow; mini-batch keeps it linear.
MINIBATCH_ABOVE = 200_000
KMEANS_N_INIT = 10

_UNIT_ROUNDOFF64 = 2.0**-53
_MAX_STORED_PAIRS = 8_000_000  # screened candidates kept in memory per pass (12 bytes each)
_SAMPLE_PAIRS = 1 << 18  # random pairs used to guess where the target rank lies
_HIST_BINS = 4096
_MAX_PASSES = 12
_BLOCK_ELEMENTS = 1 << 23  # entries of one block of the distance matrix (32 or 64 MiB)


def _to_numpy(array: Any, name: str) -> np.ndarray:
    """Accept numpy arrays, lists and torch tensors (on any device) without importing torch."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    try:
        return np.asarray(array)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot convert to an array ({exc})") from None


def _as_embeddings(emb: Any, name: str = "embeddings", keep_float32: bool = False) -> np.ndarray:
    x = _to_numpy(emb, name)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (samples x features), got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name}: has zero features")
    if not (keep_float32 and x.dtype == np.float32):
        x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        bad = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise ValueError(f"{name}: row {bad} contains NaN or infinity")
    return x


def _as_labels(labels: Any, n: int) -> np.ndarray:
    y = _to_numpy(labels, "labels")
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"labels: expected shape ({n},) to match the embeddings, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels: expected integer class indices, got dtype {y.dtype}")
    return y.astype(np.int64, copy=False)


def _check_k(k: int, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"num_classes: expected a positive integer, got {k!r}")
    if k > n:
        raise ValueError(f"num_classes: {k} clusters requested but only {n} samples given")
    return int(k)


def pairwise_distances(a: Any, b: Any) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and ``b`` from explicit differences.

    Differences (not the |a|^2+|b|^2-2ab expansion) keep duplicates at exactly zero and make the
    values bit-identical to a brute-force computation, which the ASR threshold test relies on.
    """
    x = _as_embeddings(a, "a")
    c = _as_embeddings(b, "b")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"feature sizes differ: {x.shape[1]} vs {c.shape[1]}")
    out = np.empty((x.shape[0], c.shape[0]), dtype=np.float64)
    chunk = max(1, (1 << 21) // max(1, c.shape[0] * x.shape[1]))
    for start in range(0, x.shape[0], chunk):
        diff = x[start : start + chunk, None, :] - c[None, :, :]
        out[start : start + chunk] = np.sqrt(np.sum(diff * diff, axis=-1))
    return out


def kmeans_clustering(emb: Any, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means with a fixed number of restarts so that a seed fully determines the result.

    Returns ``(assignments, centers)``: int64 cluster index per sample and the k x D centers
    (float64). float32 embeddings are clustered in float32, which halves the time.
    """
    x = _as_embeddings(emb, keep_float32=True)
    k = _check_k(k, x.shape[0])
    if x.shape[0] > MINIBATCH_ABOVE:
        model: KMeans | MiniBatchKMeans = MiniBatchKMeans(
            n_clusters=k, n_init=KMEANS_N_INIT, random_state=seed, batch_size=4096
        )
    else:
        model = KMeans(n_clusters=k, n_init=KMEANS_N_INIT, random_state=seed)
    assignments = model.fit_predict(x).astype(np.int64)
    return assignments, np.asarray(model.cluster_centers_, dtype=np.float64)


def clustering_scores(emb: Any, labels: Any, k: int, seed: int = 0) -> dict[str, Any]:
    """Agreement of k-means clusters with the true classes (chance-corrected ARI, NMI)."""
    x = _as_embeddings(emb, keep_float32=True)
    y = _as_labels(labels, x.shape[0])
    assignments, centers = kmeans_clustering(x, k, seed=seed)
    return {
        "ari": float(adjusted_rand_score(y, assignments)),
        "nmi": float(normalized_mutual_info_score(y, assignments)),
        "kmeans_centers": centers,
        "kmeans_assignments": assignments,
    }


def pair_rank(quantile: float, num_pairs: int) -> int:
    """1-based rank of the pair distance that defines delta: ``ceil(quantile * num_pairs)``.

    The product is evaluated on the decimal the float prints as (so 0.1 * 10 pairs is rank 1,
    not 2 through binary rounding), and clamped to ``[1, num_pairs]``.
    """
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float, np.floating)):
        raise ValueError(f"quantile: expected a number in (0, 1], got {quantile!r}")
    q = float(quantile)
    if not (0.0 < q <= 1.0):
        raise ValueError(f"quantile: expected a number in (0, 1], got {quantile!r}")
    if num_pairs < 1:
        raise ValueError("at least two embeddings are needed to form a pair")
    rank = math.ceil(Decimal(repr(q)) * num_pairs)
    return min(max(rank, 1), num_pairs)


def _pair_sq_distances(x: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Exact-as-float64 squared distances of the listed pairs, computed in bounded memory."""
    out = np.empty(i.shape[0], dtype=np.float64)
    chunk = max(1, (1 << 22) // x.shape[1])
    for start in range(0, i.shape[0], chunk):
        stop = start + chunk
        diff = x[i[start:stop]] - x[j[start:stop]]
        out[start:stop] = np.sum(diff * diff, axis=-1)
    return out


@dataclass
class _Scan:
    """Result of one pass over all pairs for a screening window ``[low, high]``."""

    below: int  # pairs screened strictly below ``low``
    inside: int  # pairs screened inside the window
    hist: np.ndarray  # counts of the inside pairs over ``_HIST_BINS`` equal bins
    edges: np.ndarray
    rows: np.ndarray | None  # inside pairs (None when there were too many to keep)
    cols: np.ndarray | None
    values: np.ndarray | None  # their screened values


class _PairScreen:
    """Approximate squared distances of all pairs i < j, in row blocks, with a proven error bound.

    The data are centred and scaled by a power of two (exact) so every squared norm is at most 1;
    then each screened value (BLAS expansion |a|^2 + |b|^2 - 2ab) differs from the exact squared
    distance in those units by at most ``tol``: the forward error bound of the dot products, the
    norms, the centring and the final additions, with a 2x margin. float32 screening is the fast
    default; float64 separates pairs whose distances differ by less than float32 can resolve.
    """

    def __init__(self, x: np.ndarray, dtype: type[np.floating]) -> None:
        centred = x - x.mean(axis=0)
        radius_sq = float(np.max(np.sum(centred * centred, axis=1)))
        exponent = math.frexp(math.sqrt(radius_sq))[1] if radius_sq > 0 else 0
        self.scale_sq = math.ldexp(1.0, -2 * exponent)
        self.y = (centred * math.ldexp(1.0, -exponent)).astype(dtype)
        self.norms = np.sum(self.y.astype(np.float64) ** 2, axis=1).astype(dtype)
        self.precise = np.dtype(dtype) == np.float64
        unit = float(np.finfo(dtype).eps) / 2
        self.tol = 2.0 * ((4 * x.shape[1] + 16) * unit + 8 * _UNIT_ROUNDOFF64)
        self.floor = -self.tol  # below every screened value (they are clamped at 0)
        self.ceiling = 4.0 + 4.0 * self.tol  # above every screened value
        n = x.shape[0]
        self.block = max(16, min(n, _BLOCK_ELEMENTS // max(1, n)))
        self.lower = np.tri(self.block, dtype=bool)  # j <= i inside a diagonal block

    def scan(self, low: float, high: float, keep: int) -> _Scan:
        n = self.y.shape[0]
        below = inside = 0
        hist = np.zeros(_HIST_BINS, dtype=np.int64)
        edges = np.linspace(low, high, _HIST_BINS + 1)
        rows: list[np.ndarray] | None = []
        cols: list[np.ndarray] | None = []
        vals: list[np.ndarray] | None = []
        for start in range(0, n - 1, self.block):
            stop = min(n, start + self.block)
            size = stop - start
            g = self.y[start:stop] @ self.y[start:].T
            g *= -2.0
            g += self.norms[start:stop, None]
            g += self.norms[None, start:]
            np.maximum(g, 0.0, out=g)
            g[:, :size][self.lower[:size, :size]] = np.inf  # keep only pairs with i < j
            below += int(np.count_nonzero(g < low))
            window = g >= low
            window &= g <= high
            flat = np.flatnonzero(window)
            inside += flat.size
            values = g.ravel()[flat]
            hist += np.histogram(values, bins=_HIST_BINS, range=(low, high))[0]
            if rows is not None and inside <= keep:
                width = n - start
                rows.append((flat // width + start).astype(np.int32))
                cols.append((flat % width + start).astype(np.int32))
                vals.append(values)
            else:
                rows = cols = vals = None
        if rows is None or cols is None or vals is None:
            return _Scan(below, inside, hist, edges, None, None, None)
        empty_i = np.empty(0, np.int32)
        return _Scan(
            below,
            inside,
            hist,
            edges,
            np.concatenate(rows) if rows else empty_i,
            np.concatenate(cols) if cols else empty_i,
            np.concatenate(vals).astype(np.float64) if vals else np.empty(0),
        )


def _sample_window(
    x: np.ndarray, screen: _PairScreen, rank: int, num_pairs: int
) -> tuple[float, float]:
    """Guess a narrow screening window around the target rank from random pairs.

    Only the speed depends on this guess: a miss costs extra passes, never a wrong answer.
    """
    n = x.shape[0]
    rng = np.random.default_rng(0)
    m = _SAMPLE_PAIRS
    i = rng.integers(0, n, m)
    j = rng.integers(0, n - 1, m)
    j += j >= i
    sample = np.sort(_pair_sq_distances(x, i, j) * screen.scale_sq)
    p = rank / num_pairs
    half = 6.0 * math.sqrt(p * (1.0 - p) / m) + 2.0 / m
    lo_idx = math.floor((p - half) * m) - 1
    hi_idx = math.ceil((p + half) * m)
    low = sample[lo_idx] - 3 * screen.tol if lo_idx >= 0 else screen.floor
    high = sample[hi_idx] + 3 * screen.tol if hi_idx < m else screen.ceiling
    return low, high


def _resolve(
    x: np.ndarray, screen: _PairScreen, scan: _Scan, low: float, high: float, rank: int
) -> float | None:
    """Exact squared distance of the target rank from a scan that kept its window's pairs.

    With t the screened value at the target rank, the exact value lies in [t - tol, t + tol];
    every pair whose exact value can fall there was screened into [t - 2 tol, t + 2 tol], so only
    those pairs are recomputed in float64 and counted exactly.
    """
    assert scan.values is not None and scan.rows is not None and scan.cols is not None
    k = rank - scan.below
    if not 1 <= k <= scan.inside:
        return None
    target = float(np.partition(scan.values, k - 1)[k - 1])
    sub_low, sub_high = target - 2 * screen.tol, target + 2 * screen.tol
    if (sub_low < low and low > screen.floor) or (sub_high > high and high < screen.ceiling):
        return None  # the exact neighbourhood leaks outside the pairs that were kept
    below = scan.below + int(np.count_nonzero(scan.values < sub_low))
    near = (scan.values >= sub_low) & (scan.values <= sub_high)
    exact = _pair_sq_distances(x, scan.rows[near], scan.cols[near])
    scaled = exact * screen.scale_sq
    exact_low, exact_high = sub_low + screen.tol, sub_high - screen.tol
    lt_low = below + int(np.count_nonzero(scaled < exact_low))
    le_high = below + int(np.count_nonzero(scaled <= exact_high))
    if not lt_low < rank <= le_high:
        return None
    inside = np.sort(exact[(scaled >= exact_low) & (scaled <= exact_high)])
    return float(inside[rank - lt_low - 1])


def _next_window(
    screen: _PairScreen, scan: _Scan, low: float, high: float, rank: int
) -> tuple[float, float]:
    """Narrow the window to the histogram bin that holds the screened target rank."""
    if rank <= scan.below:
        return screen.floor, low + 2 * screen.tol
    if rank > scan.below + scan.inside:
        return high - 2 * screen.tol, screen.ceiling
    cumulative = np.cumsum(scan.hist)
    b = int(np.searchsorted(cumulative, rank - scan.below))
    return (
        max(screen.floor, float(scan.edges[b]) - 2 * screen.tol),
        min(screen.ceiling, float(scan.edges[b + 1]) + 2 * screen.tol),
    )


def ambiguity_threshold(emb: Any, quantile: float = 0.1) -> float:
    """delta for the ASR: the exact ``quantile`` of all pairwise Euclidean distances.

    Rank convention: with P = n(n-1)/2 distinct pairs i < j, delta is the distance of rank
    ``r = ceil(quantile * P)`` (1-based, ascending, ties counted with multiplicity; see
    :func:`pair_rank`). For quantile 0.1 this is "the largest of the smallest 10 % of the
    distances". The value equals ``sort(distances)[r - 1]`` of a brute-force float64 computation
    from explicit differences, but memory stays O(n) blocks plus the pairs near the answer.
    """
    x = _as_embeddings(emb)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"embeddings: need at least 2 samples for pairwise distances, got {n}")
    num_pairs = n * (n - 1) // 2
    rank = pair_rank(quantile, num_pairs)
    # Identical rows (collapsed embeddings, duplicate images) tie at exactly 0 and would all be
    # candidates below; counting them by value is O(n log n).
    _, multiplicity = np.unique(x, axis=0, return_counts=True)
    if rank <= int(np.sum(multiplicity * (multiplicity - 1) // 2)):
        return 0.0
    screen = _PairScreen(x, np.float32)
    if num_pairs <= _MAX_STORED_PAIRS:
        low, high = screen.floor, screen.ceiling
    else:
        low, high = _sample_window(x, screen, rank, num_pairs)
    for attempt in range(_MAX_PASSES):
        # A window a few tolerances wide cannot be split further at this precision.
        narrow = high - low <= 16 * screen.tol
        keep_all = (narrow and screen.precise) or attempt >= _MAX_PASSES - 2
        scan = screen.scan(low, high, keep=num_pairs if keep_all else _MAX_STORED_PAIRS)
        if scan.values is not None:
            value = _resolve(x, screen, scan, low, high, rank)
            if value is not None:
                return math.sqrt(value)
        if narrow and not screen.precise:
            # Too many pairs tie at float32 resolution (tight clusters): split them in float64.
            screen = _PairScreen(x, np.float64)
            continue
        low, high = _next_window(screen, scan, low, high, rank)
    raise RuntimeError(
        "ambiguity_threshold: the screened distances did not bracket the target rank; "
        "the floating-point error bound was violated"
    )


def ambiguous_sample_ratio(emb: Any, centers: Any, delta: float, strict: bool = False) -> float:
    """Share of samples lying within ``delta`` of more than one center.

    ``strict=False`` counts a center at distance exactly delta (``<=``); the paper's formula uses
    ``<``, available with ``strict=True``. Pass k-means centers or learned class centers.
    """
    x = _as_embeddings(emb)
    c = _as_embeddings(centers, "centers")
    if c.shape[1] != x.shape[1]:
        raise ValueError(
            f"centers: feature size {c.shape[1]} does not match the embeddings' {x.shape[1]}"
        )
    if not math.isfinite(delta) or delta < 0:
        raise ValueError(f"delta: expected a finite non-negative distance, got {delta!r}")
    dist = pairwise_distances(x, c)
    close = dist < delta if strict else dist <= delta
    return float(np.mean(np.count_nonzero(close, axis=1) > 1))


def center_distance_matrix(centers: Any) -> np.ndarray:
    """C x C Euclidean distances between centers (symmetric, zero diagonal)."""
    c = _as_embeddings(centers, "centers")
    return pairwise_distances(c, c)


def embedding_report(
    emb: Any,
    labels: Any,
    num_classes: int,
    learned_centers: Any | None = None,
    seed: int = 0,
    quantile: float = 0.1,
) -> dict[str, float | np.ndarray]:
    """All embedding-space numbers of one evaluation in one call.

    Keys: ``ari``, ``nmi``, ``delta``, ``asr_kmeans``, ``kmeans_centers`` and, when
    ``learned_centers`` is given, ``asr_class_centers`` and ``center_distances``.
    """
    given = _as_embeddings(emb, keep_float32=True)
    x = given.astype(np.float64, copy=False)
    y = _as_labels(labels, x.shape[0])
    k = _check_k(num_classes, x.shape[0])
    centers = None
    if learned_centers is not None:
        centers = _as_embeddings(learned_centers, "learned_centers")
        if centers.shape != (k, x.shape[1]):
            raise ValueError(
                f"learned_centers: expected shape ({k}, {x.shape[1]}), got {centers.shape}"
            )
    scores = clustering_scores(given, y, k, seed=seed)
    delta = ambiguity_threshold(x, quantile)
    report: dict[str, float | np.ndarray] = {
        "ari": scores["ari"],
        "nmi": scores["nmi"],
        "delta": delta,
        "asr_kmeans": ambiguous_sample_ratio(x, scores["kmeans_centers"], delta),
        "kmeans_centers": scores["kmeans_centers"],
    }
    if centers is not None:
        report["asr_class_centers"] = ambiguous_sample_ratio(x, centers, delta)
        report["center_distances"] = center_distance_matrix(centers)
    return report
