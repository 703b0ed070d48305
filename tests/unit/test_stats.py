"""The statistics module against scipy's own tests and hand-computed values on fixed numbers."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from emotion_lab.comparison.stats import paired_difference, t_interval, welch_difference, wilcoxon_p

A = [0.842, 0.851, 0.838, 0.846, 0.849]
B = [0.861, 0.855, 0.850, 0.866, 0.858]


def test_t_interval_matches_scipy_and_hand_values() -> None:
    iv = t_interval(A)
    low, high = sps.t.interval(0.95, len(A) - 1, loc=sps.tmean(A), scale=sps.sem(A))
    assert (iv.low, iv.high) == (pytest.approx(low), pytest.approx(high))
    # by hand: [1, 2, 3] has mean 2, s = 1, t(0.975, 2) = 4.302653
    hand = t_interval([1.0, 2.0, 3.0])
    assert hand.mean == 2.0 and hand.std == 1.0
    assert hand.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)


def test_one_value_has_a_mean_but_no_interval() -> None:
    iv = t_interval([0.5])
    assert iv.mean == 0.5 and math.isnan(iv.low) and math.isnan(iv.high)
    with pytest.raises(ValueError, match="at least one value"):
        t_interval([])


def test_paired_difference_matches_ttest_rel_and_wilcoxon() -> None:
    diff = paired_difference(A, B)
    ref = sps.ttest_rel(B, A)
    assert diff.test == "paired t"
    assert diff.p == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (diff.interval.low, diff.interval.high) == (
        pytest.approx(ci.low),
        pytest.approx(ci.high),
    )
    assert diff.wilcoxon_p == pytest.approx(
        sps.wilcoxon([b - a for a, b in zip(A, B, strict=True)]).pvalue
    )
    assert not diff.within_noise  # every seed is better with B


def test_welch_difference_matches_ttest_ind() -> None:
    b = B[:4]
    diff = welch_difference(A, b)
    ref = sps.ttest_ind(b, A, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert diff.test == "Welch t" and diff.wilcoxon_p is None
    assert diff.interval.mean == pytest.approx(sum(b) / 4 - sum(A) / 5)
    assert diff.p == pytest.approx(ref.pvalue)
    assert (diff.interval.low, diff.interval.high) == (
        pytest.approx(ci.low),
        pytest.approx(ci.high),
    )


def test_a_difference_whose_interval_covers_zero_is_within_noise() -> None:
    diff = paired_difference([0.80, 0.82, 0.81], [0.81, 0.80, 0.83])
    assert diff.interval.low < 0 < diff.interval.high
    assert diff.within_noise
    assert welch_difference([0.8], [0.9]).within_noise  # one run each: nothing can be told


def test_wilcoxon_exact_p_on_five_pairs_cannot_go_below_0_0625() -> None:
    # all five differences positive: the exact two-sided p is 2 / 2**5
    assert wilcoxon_p([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx(0.0625)
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0
