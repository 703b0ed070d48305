"""The statistics behind "is this difference real": t-intervals, Welch and paired tests, Wilcoxon.

A handful of seeds is the usual sample, so every interval is a Student-t interval (not a normal
one) and every test says how many runs it saw. Functions take plain sequences of floats and
return small frozen records, so tables and plots format them without re-deriving anything.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A sample's mean with its standard deviation and t-interval; bounds are NaN when n < 2."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Difference:
    """``b - a`` with its t-interval, the test that gave it, and its two-sided p-value.

    ``test`` is ``"paired t"`` or ``"Welch t"``; ``wilcoxon_p`` is the signed-rank p-value of
    the same pairs (None for unpaired samples). ``interval.std`` is the standard deviation of
    the pair differences (paired) or the standard error of the difference (Welch).
    """

    interval: Interval
    test: str
    p: float
    wilcoxon_p: float | None = None

    @property
    def within_noise(self) -> bool:
        """True when the interval covers 0, or cannot be computed."""
        iv = self.interval
        return not (math.isfinite(iv.low) and math.isfinite(iv.high)) or iv.covers(0.0)


def _t_quantile(df: float, confidence: float) -> float:
    return float(sps.t.ppf(0.5 + confidence / 2, df))


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean ± t(n-1) · s / √n of ``values``."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = statistics.fmean(xs)
    if n < 2:
        return Interval(n, mean, math.nan, math.nan, math.nan)
    std = statistics.stdev(xs)
    half = _t_quantile(n - 1, confidence) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half)


def paired_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> Difference:
    """Paired t on ``b[i] - a[i]`` (same seed, same fold), plus Wilcoxon's signed-rank p."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    diffs = [float(y) - float(x) for x, y in zip(a, b, strict=True)]
    interval = t_interval(diffs, confidence)
    return Difference(interval, "paired t", _t_p_value(interval), wilcoxon_p(diffs))


def welch_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> Difference:
    """Welch's unequal-variance t on ``mean(b) - mean(a)`` for unpaired samples."""
    ia, ib = t_interval(a, confidence), t_interval(b, confidence)
    diff = ib.mean - ia.mean
    if ia.n < 2 or ib.n < 2:
        nan = math.nan
        return Difference(Interval(min(ia.n, ib.n), diff, nan, nan, nan), "Welch t", nan)
    va, vb = ia.std**2 / ia.n, ib.std**2 / ib.n
    se = math.sqrt(va + vb)
    if se == 0.0:  # both samples constant: the difference is exact
        p = 1.0 if diff == 0.0 else 0.0
        return Difference(Interval(min(ia.n, ib.n), diff, 0.0, diff, diff), "Welch t", p)
    df = (va + vb) ** 2 / (va**2 / (ia.n - 1) + vb**2 / (ib.n - 1))
    half = _t_quantile(df, confidence) * se
    p = float(2 * sps.t.sf(abs(diff) / se, df))
    return Difference(Interval(min(ia.n, ib.n), diff, se, diff - half, diff + half), "Welch t", p)


def _t_p_value(interval: Interval) -> float:
    """Two-sided one-sample t p-value of ``interval.mean`` against 0."""
    n, mean, std = interval.n, interval.mean, interval.std
    if n < 2:
        return math.nan
    if std == 0.0:
        return 1.0 if mean == 0.0 else 0.0
    t = mean / (std / math.sqrt(n))
    return float(2 * sps.t.sf(abs(t), n - 1))


def wilcoxon_p(diffs: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p of paired differences; 1.0 when every difference is 0.

    Exact for small samples without ties (scipy's default), so with 5 pairs the smallest
    possible p is 2/2⁵ = 0.0625: five seeds can never pass p < 0.05 by this test.
    """
    xs = [float(d) for d in diffs]
    if not xs:
        return math.nan
    if all(d == 0.0 for d in xs):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns that small samples use the exact method
        return float(sps.wilcoxon(xs).pvalue)
