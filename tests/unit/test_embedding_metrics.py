"""Embedding-space evaluation: exact ASR threshold, ASR, k-means scores and the Metric wrapper."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import emotion_lab.metrics.embedding as emb_mod
from emotion_lab.metrics import (
    EmbeddingClusterMetrics,
    ambiguity_threshold,
    ambiguous_sample_ratio,
    center_distance_matrix,
    clustering_scores,
    embedding_report,
    kmeans_clustering,
    pair_rank,
)


def brute_force_threshold(x: np.ndarray, quantile: float) -> float:
    """Sort every pairwise distance (i < j) and take the value at rank ceil(q * P)."""
    i, j = np.triu_indices(len(x), k=1)
    diff = x[i] - x[j]
    sq = np.sort(np.sum(diff * diff, axis=-1))
    return float(np.sqrt(sq[pair_rank(quantile, sq.size) - 1]))


def separated_blobs(n_per: int, k: int, dim: int, spread: float, seed: int):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, dim)) * 10.0
    labels = np.repeat(np.arange(k), n_per)
    x = centers[labels] + rng.normal(size=(k * n_per, dim)) * spread
    return x, labels, centers


# --- delta -------------------------------------------------------------------------------------


def test_threshold_on_a_line_matches_hand_computation() -> None:
    # points 0, 1, 3, 7: pair distances 1, 3, 7, 2, 6, 4 -> sorted 1, 2, 3, 4, 6, 7 (P = 6)
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert ambiguity_threshold(x, 0.1) == 1.0  # ceil(0.6) = rank 1
    assert ambiguity_threshold(x, 0.5) == 3.0  # rank 3
    assert ambiguity_threshold(x, 0.34) == 3.0  # ceil(2.04) = rank 3
    assert ambiguity_threshold(x, 1 / 3) == 2.0  # rank 2, not 3 through binary rounding
    assert ambiguity_threshold(x, 1.0) == 7.0


def test_pair_rank_convention() -> None:
    assert pair_rank(0.1, 10) == 1
    assert pair_rank(0.3, 10) == 3
    assert pair_rank(0.1, 11) == 2
    assert pair_rank(1e-12, 5) == 1
    assert pair_rank(1.0, 5) == 5
    for bad in (0.0, -0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="quantile"):
            pair_rank(bad, 10)


@pytest.mark.parametrize("n", [2, 3, 17, 150, 600])
@pytest.mark.parametrize("quantile", [0.001, 0.1, 0.5, 0.97, 1.0])
def test_threshold_equals_brute_force(n: int, quantile: float) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 24)) * 3.0
    assert ambiguity_threshold(x, quantile) == brute_force_threshold(x, quantile)


@pytest.mark.parametrize("quantile", [0.05, 0.1, 0.4])
def test_threshold_with_duplicates_and_ties(quantile: float) -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, size=(120, 4)).astype(np.float64)  # a small grid: many exact ties
    x[:40] = x[0]  # and 780 zero distances (6.6 % of the pairs)
    assert ambiguity_threshold(x, quantile) == brute_force_threshold(x, quantile)
    assert ambiguity_threshold(x, 0.05) == 0.0


def test_threshold_is_exact_far_from_the_origin_and_for_float32_input() -> None:
    rng = np.random.default_rng(3)
    x = 1e6 + rng.normal(size=(300, 136)) * 1e-3
    assert ambiguity_threshold(x, 0.1) == brute_force_threshold(x, 0.1)
    x32 = rng.normal(size=(300, 136)).astype(np.float32)
    assert ambiguity_threshold(x32, 0.1) == brute_force_threshold(x32.astype(np.float64), 0.1)
    assert ambiguity_threshold(torch.from_numpy(x32), 0.1) == ambiguity_threshold(x32, 0.1)


@pytest.fixture
def screening_log(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Shrink memory cap, sample and histogram so small sets take the paths of large ones.

    Yields the precision (True = float64) of every blockwise screening pass.
    """
    monkeypatch.setattr(emb_mod, "_MAX_STORED_PAIRS", 60)
    monkeypatch.setattr(emb_mod, "_SAMPLE_PAIRS", 32)
    monkeypatch.setattr(emb_mod, "_HIST_BINS", 4)
    log: list[bool] = []
    original_scan = emb_mod._PairScreen.scan

    def logging_scan(self, low, high, keep):
        log.append(self.precise)
        return original_scan(self, low, high, keep)

    monkeypatch.setattr(emb_mod._PairScreen, "scan", logging_scan)
    return log


@pytest.mark.parametrize("quantile", [0.002, 0.1, 0.6, 1.0])
def test_threshold_multi_pass_path_equals_brute_force(
    screening_log: list[bool], quantile: float
) -> None:
    x = np.random.default_rng(11).normal(size=(150, 6))
    assert ambiguity_threshold(x, quantile) == brute_force_threshold(x, quantile)
    assert len(screening_log) >= 2  # the window had to be narrowed at least once


@pytest.mark.parametrize("quantile", [0.05, 0.3, 0.9])
def test_threshold_splits_tight_clusters_in_float64(
    screening_log: list[bool], quantile: float
) -> None:
    # Within-cluster distances (~1e-7 of the cluster separation) are ties at float32 precision.
    rng = np.random.default_rng(12)
    x = np.repeat(rng.normal(size=(3, 6)), 50, axis=0) + rng.normal(size=(150, 6)) * 1e-7
    assert ambiguity_threshold(x, quantile) == brute_force_threshold(x, quantile)
    if quantile < 0.3:  # 1/3 of the pairs are within a cluster
        assert screening_log[-1] is True


def test_threshold_of_duplicated_rows(screening_log: list[bool]) -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(size=(150, 6))
    x[:75] = x[0]  # 2775 of 11175 pairs are exactly zero
    assert ambiguity_threshold(x, 0.2) == 0.0
    assert screening_log == []  # answered by counting identical rows
    assert ambiguity_threshold(x, 0.5) == brute_force_threshold(x, 0.5)


def test_threshold_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        ambiguity_threshold(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="row 2"):
        ambiguity_threshold(np.array([[0.0], [1.0], [np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        ambiguity_threshold(np.zeros(5))


# --- ASR and center distances -------------------------------------------------------------------


def test_asr_counts_samples_close_to_two_centers() -> None:
    centers = np.array([[0.0, 0.0], [2.0, 0.0]])
    points = np.array(
        [
            [1.0, 0.0],  # 1 from both -> ambiguous
            [1.0, 1.0],  # sqrt(2) = 1.414 from both -> ambiguous
            [0.0, 0.5],  # 0.5 and 2.06 -> only one center
            [3.0, 0.0],  # 3 and 1 -> only one center
            [1.0, 1.2],  # 1.562 from both -> none
        ]
    )
    assert ambiguous_sample_ratio(points, centers, 1.5) == pytest.approx(2 / 5)
    assert ambiguous_sample_ratio(points, centers, 0.9) == 0.0
    assert ambiguous_sample_ratio(points, centers, 10.0) == 1.0


def test_asr_boundary_is_inclusive_unless_strict() -> None:
    centers = np.array([[0.0, 0.0], [2.0, 0.0]])
    points = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert ambiguous_sample_ratio(points, centers, 1.0) == 0.5
    assert ambiguous_sample_ratio(points, centers, 1.0, strict=True) == 0.0


def test_asr_validates_shapes_and_delta() -> None:
    with pytest.raises(ValueError, match="feature size"):
        ambiguous_sample_ratio(np.zeros((3, 2)), np.zeros((2, 3)), 1.0)
    with pytest.raises(ValueError, match="delta"):
        ambiguous_sample_ratio(np.zeros((3, 2)), np.zeros((2, 2)), -1.0)


def test_center_distance_matrix() -> None:
    centers = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    dist = center_distance_matrix(centers)
    np.testing.assert_array_equal(dist, dist.T)
    np.testing.assert_array_equal(np.diag(dist), 0.0)
    assert dist[0, 1] == 5.0 and dist[0, 2] == 10.0 and dist[1, 2] == 5.0
    rand = center_distance_matrix(np.random.default_rng(0).normal(size=(8, 136)))
    np.testing.assert_array_equal(rand, rand.T)
    np.testing.assert_array_equal(np.diag(rand), 0.0)


# --- k-means scores -----------------------------------------------------------------------------


def test_clustering_scores_perfect_for_separated_clusters() -> None:
    x, labels, _ = separated_blobs(60, 4, 136, spread=0.5, seed=1)
    permuted = (labels + 2) % 4  # label ids need not match cluster ids
    scores = clustering_scores(x, permuted, 4)
    assert scores["ari"] == pytest.approx(1.0)
    assert scores["nmi"] == pytest.approx(1.0)
    assert scores["kmeans_centers"].shape == (4, 136)
    assert scores["kmeans_assignments"].shape == (240,)


def test_clustering_scores_near_zero_for_random_labels() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 16))
    labels = rng.integers(0, 4, size=3000)
    scores = clustering_scores(x, labels, 4)
    assert abs(scores["ari"]) < 0.02
    assert scores["nmi"] < 0.02


def test_kmeans_is_deterministic_given_seed() -> None:
    x = np.random.default_rng(2).normal(size=(400, 10))
    a1, c1 = kmeans_clustering(x, 5, seed=3)
    a2, c2 = kmeans_clustering(x, 5, seed=3)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(c1, c2)
    with pytest.raises(ValueError, match="num_classes"):
        kmeans_clustering(x[:3], 5)


# --- report --------------------------------------------------------------------------------------


def test_embedding_report_combines_the_parts() -> None:
    x, labels, centers = separated_blobs(40, 3, 8, spread=1.0, seed=4)
    report = embedding_report(x, labels, 3, learned_centers=centers, seed=0, quantile=0.1)
    assert set(report) == {
        "ari",
        "nmi",
        "delta",
        "asr_kmeans",
        "asr_class_centers",
        "kmeans_centers",
        "center_distances",
    }
    delta = brute_force_threshold(x, 0.1)
    assert report["delta"] == delta
    assert report["asr_class_centers"] == ambiguous_sample_ratio(x, centers, delta)
    assert report["asr_kmeans"] == ambiguous_sample_ratio(x, report["kmeans_centers"], delta)
    np.testing.assert_array_equal(report["center_distances"], center_distance_matrix(centers))
    assert report["ari"] == pytest.approx(1.0)
    assert "asr_class_centers" not in embedding_report(x, labels, 3)


def test_embedding_report_gives_nonzero_asr_for_overlapping_classes() -> None:
    x, labels, centers = separated_blobs(100, 2, 2, spread=1.0, seed=0)
    centers = np.array([[0.0, 0.0], [0.5, 0.0]])
    x = centers[labels] + np.random.default_rng(0).normal(size=(200, 2))
    report = embedding_report(x, labels, 2, learned_centers=centers)
    assert 0.0 < report["asr_class_centers"] <= 1.0
    assert 0.0 < report["delta"] < math.inf


def test_embedding_report_rejects_mismatched_inputs() -> None:
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match="labels"):
        embedding_report(x, np.zeros(9, dtype=int), 2)
    with pytest.raises(ValueError, match="integer"):
        embedding_report(x, np.zeros(10), 2)
    with pytest.raises(ValueError, match="learned_centers"):
        embedding_report(x, np.zeros(10, dtype=int), 2, learned_centers=np.zeros((3, 4)))


# --- torchmetrics wrapper ------------------------------------------------------------------------


def test_metric_accumulates_batches_like_the_plain_function() -> None:
    x, labels, centers = separated_blobs(50, 3, 12, spread=4.0, seed=9)
    emb = torch.from_numpy(x).float()
    lab = torch.from_numpy(labels)
    metric = EmbeddingClusterMetrics(num_classes=3, seed=0, quantile=0.1)
    for batch in torch.arange(150).split(32):
        metric.update(emb[batch], lab[batch])
    plain = embedding_report(emb, lab, 3, learned_centers=torch.from_numpy(centers).float())
    result = metric.compute()
    assert set(result) == {"ari", "nmi", "asr_kmeans", "delta"}
    for key, value in result.items():
        assert isinstance(value, torch.Tensor) and value.ndim == 0
        assert value.item() == pytest.approx(plain[key], rel=1e-12, abs=1e-12)
    with_centers = metric.compute_with_centers(torch.from_numpy(centers).float())
    assert with_centers["asr_class_centers"].item() == pytest.approx(plain["asr_class_centers"])
    assert with_centers["delta"].item() == result["delta"].item()

    metric.reset()
    with pytest.raises(ValueError, match="no embeddings"):
        metric.compute_with_centers(torch.from_numpy(centers).float())


def test_metric_rejects_bad_shapes() -> None:
    metric = EmbeddingClusterMetrics(num_classes=2)
    with pytest.raises(ValueError, match="embeddings"):
        metric.update(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        metric.update(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="num_classes"):
        EmbeddingClusterMetrics(num_classes=0)
