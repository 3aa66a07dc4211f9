"""The one statistics module: intervals over seeds, curve summaries, bootstrap and rank correlation.

Every experiment reports through these, so a number called ``peak`` or ``drop_after_peak`` means the same thing
in the quantile bandit, the rubric world and the real RFT runs, and an interval is always the same interval.

- :func:`interval` -- mean and two-sided Student-t interval over seeds (axis 0) -> :class:`Interval`.
- :func:`summarize_curve` -- peak step, peak, final, drop after the peak, fraction of the gain lost ->
  :class:`CurveSummary`, for any curve ``(..., T)`` (optionally smoothed by :func:`moving_average`).
- :func:`bootstrap_indices`, :func:`percentile_interval` (:func:`percentile_bands` per column),
  :func:`bootstrap_ratio_of_means` -- resampling with an
  explicit ``np.random.Generator`` (no global RNG).
- :func:`midranks`, :func:`spearman` -- rank correlation with mid-ranks for ties (numpy only).
- :func:`format_interval` -- ``mean [lo, hi]`` for reports.

numpy only, except the Student-t quantile, which comes from scipy (a core dependency) and is imported lazily.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "CurveSummary",
    "Interval",
    "bootstrap_indices",
    "bootstrap_ratio_of_means",
    "format_interval",
    "interval",
    "midranks",
    "moving_average",
    "percentile_bands",
    "percentile_interval",
    "spearman",
    "summarize_curve",
    "t_quantile",
]

ALPHA = 0.05  # two-sided error rate of every interval: 95% intervals


def t_quantile(alpha: float, dof) -> Any:
    """Two-sided Student-t critical value ``q`` with P(|T_dof| > q) = alpha (``dof`` scalar or array)."""
    from scipy import stats as scipy_stats  # lazy: keeps ``import rewards`` light

    return scipy_stats.t.ppf(1 - alpha / 2, dof)


class Interval(NamedTuple):
    """Mean and two-sided t-interval over ``n`` seeds. Fields are floats for a ``(n,)`` input and arrays of the
    trailing shape for a ``(n, ...)`` input. ``lo`` and ``hi`` are NaN when ``n < 2`` (one seed says nothing
    about the spread)."""

    mean: Any
    lo: Any
    hi: Any
    n: int

    def to_dict(self) -> dict[str, Any]:
        """``{"mean", "lo", "hi", "n"}`` with plain floats / lists (JSON-ready; NaN stays NaN)."""

        def plain(x):
            return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=float).tolist()

        return {"mean": plain(self.mean), "lo": plain(self.lo), "hi": plain(self.hi), "n": int(self.n)}

    def excludes_zero(self) -> bool:
        """True when the whole interval is on one side of 0 (a scalar interval)."""
        return bool(self.lo > 0 or self.hi < 0)


def interval(x, alpha: float = ALPHA, nan: str = "propagate") -> Interval:
    """Mean and two-sided ``1 - alpha`` t-interval over axis 0 (seeds). ``x``: ``(n,)`` or ``(n, ...)``.

    ``nan="omit"`` ignores NaN entries (each position then uses its own count of finite seeds; ``n`` reports
    the number of rows); ``"propagate"`` lets a NaN seed make the result NaN.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise ValueError("interval: need at least one axis (seeds)")
    n = a.shape[0]
    if nan == "omit":
        count = np.sum(np.isfinite(a), axis=0)
        mean = np.nanmean(a, axis=0) if n else np.full(a.shape[1:], np.nan)
        sd = np.nanstd(a, axis=0, ddof=1) if n > 1 else np.full(a.shape[1:], np.nan)
    elif nan == "propagate":
        count = np.full(a.shape[1:], n)
        mean = a.mean(axis=0)
        sd = a.std(axis=0, ddof=1) if n > 1 else np.full(a.shape[1:], np.nan)
    else:
        raise ValueError(f"interval: nan={nan!r}, expected 'propagate' or 'omit'")
    k = np.asarray(count)
    if k.ndim == 0:
        half = float(t_quantile(alpha, int(k) - 1)) * sd / math.sqrt(k) if k >= 2 else np.nan
    else:
        q = t_quantile(alpha, np.maximum(k - 1, 1))
        half = np.where(k >= 2, q * sd / np.sqrt(np.maximum(k, 1)), np.nan)
    lo, hi = mean - half, mean + half
    if np.ndim(mean) == 0:
        return Interval(float(mean), float(lo), float(hi), int(n))
    return Interval(mean, lo, hi, int(n))


def format_interval(iv: Interval | dict, digits: int = 3, scale: float = 1.0, min_width: float = 0.0) -> str:
    """``"mean [lo, hi]"`` of an :class:`Interval` (or its ``to_dict()``), each times ``scale`` to ``digits``
    decimals; the mean alone when there is no interval (one seed) or it is narrower than ``min_width`` (after
    scaling; e.g. ``10 ** -digits``: an interval the printed digits cannot show)."""
    d = iv.to_dict() if isinstance(iv, Interval) else iv
    m, lo, hi = d["mean"] * scale, d["lo"] * scale, d["hi"] * scale
    if not math.isfinite(lo) or hi - lo < min_width:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def moving_average(x, k: int) -> np.ndarray:
    """Centered moving average of width ``k`` along the last axis of ``x`` (..., T); the ends average the
    part of the window that exists. ``k <= 1`` returns ``x`` unchanged. Used for the peak of a noisy curve."""
    x = np.asarray(x, dtype=np.float64)
    if k <= 1:
        return x
    c = np.cumsum(np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 0)]), axis=-1)
    n = x.shape[-1]
    lo = np.clip(np.arange(n) - k // 2, 0, n)
    hi = np.clip(np.arange(n) + k // 2 + 1, 0, n)
    return (c[..., hi] - c[..., lo]) / (hi - lo)


class CurveSummary(NamedTuple):
    """Summary of curves ``(..., T)``; every field has the leading shape ``(...)``.

    peak_step:  index of the maximum of the smoothed curve (first one on ties), or the step value when
                ``steps`` is given.
    peak:       the smoothed curve's maximum.
    final:      the smoothed curve's last value.
    drop_after_peak: ``peak - final`` (>= 0).
    start:      the raw (unsmoothed) first value.
    lost_fraction_of_gain: ``(peak - final) / (peak - start)``: the share of the gain over the start given back
                after the peak; NaN where the curve never rises above its start (no gain, so no fraction of
                it: a huge ratio from a near-zero denominator would be noise, not a finding).
    """

    peak_step: np.ndarray
    peak: np.ndarray
    final: np.ndarray
    drop_after_peak: np.ndarray
    start: np.ndarray
    lost_fraction_of_gain: np.ndarray


def summarize_curve(curve, smooth: int = 1, steps=None) -> CurveSummary:
    """Peak / final / drop after the peak of curves ``(..., T)`` along the last axis.

    ``smooth`` > 1 takes peak and final from the centered :func:`moving_average` of that width (so one lucky
    evaluation does not make the peak); ``start`` is always the raw first value. ``steps`` ``(T,)`` maps indices
    to step numbers for ``peak_step``.
    """
    raw = np.asarray(curve, dtype=np.float64)
    sm = moving_average(raw, smooth)
    idx = sm.argmax(axis=-1)
    peak = sm.max(axis=-1)
    final = sm[..., -1]
    start = raw[..., 0]
    peak_step = idx if steps is None else np.asarray(steps)[idx]
    return CurveSummary(
        peak_step=peak_step,
        peak=peak,
        final=final,
        drop_after_peak=peak - final,
        start=start,
        lost_fraction_of_gain=_lost_fraction(peak, final, start),
    )


def _lost_fraction(peak, final, start) -> np.ndarray:
    gain = np.asarray(peak - start, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gain > 1e-12, (peak - final) / np.maximum(gain, 1e-12), np.nan)


def bootstrap_indices(rng: np.random.Generator, n: int, n_boot: int, chunk: int = 2_000_000) -> Iterator[np.ndarray]:
    """Resampling indices in chunks: yields ``(rows, n)`` int arrays, ``n_boot`` rows in all, each row ``n``
    draws with replacement from ``range(n)``. Chunked so that memory stays below ``chunk`` integers."""
    rows = max(1, chunk // max(n, 1))
    for start in range(0, n_boot, rows):
        yield rng.integers(0, n, size=(min(rows, n_boot - start), n))


def percentile_interval(samples, alpha: float = ALPHA) -> tuple[float, float]:
    """Two-sided percentile interval of bootstrap ``samples`` (1-D; NaN samples ignored; NaNs if none left)."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(s, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def percentile_bands(samples, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """:func:`percentile_interval` of every column of bootstrap ``samples`` (B, L) at once: ``(lo, hi)``, each
    (L,) (NaN samples ignored; NaN where a column has none left). For curves: one band per grid point."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"percentile_bands: need (B, L) samples, got shape {s.shape}")
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as percentile_interval does
        lo, hi = np.nanquantile(s, [alpha / 2, 1 - alpha / 2], axis=0)
    return lo, hi


def bootstrap_ratio_of_means(
    num, den, rng: np.random.Generator, n_boot: int = 2000, alpha: float = ALPHA
) -> dict[str, float]:
    """Ratio of means ``mean(num) / mean(den)`` over paired seeds ``(n,)`` with a percentile bootstrap interval
    (seeds resampled jointly, one draw of ``n`` indices per replicate, in order). Returns
    ``{"ratio_of_means", "lo", "hi"}``."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"bootstrap_ratio_of_means: need two (n,) arrays, got {num.shape} and {den.shape}")
    reps = [num[b].mean() / den[b].mean() for b in (rng.integers(0, len(num), len(num)) for _ in range(n_boot))]
    lo, hi = percentile_interval(reps, alpha)
    return {"ratio_of_means": float(num.mean() / den.mean()), "lo": lo, "hi": hi}


def midranks(x) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties sharing their mean rank (as scipy's ``rankdata(method='average')``)."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    new_group = np.concatenate([[True], sorted_a[1:] != sorted_a[:-1]])
    group = np.cumsum(new_group) - 1
    first = np.flatnonzero(new_group)
    last = np.concatenate([first[1:], [a.size]]) - 1
    ranks = np.empty(a.size)
    ranks[order] = (first[group] + last[group]) / 2.0 + 1.0
    return ranks


def spearman(x, y) -> float:
    """Spearman rank correlation of two equal-length 1-D arrays (mid-ranks for ties); NaN when either side is
    constant (no ranking to agree with)."""
    rx, ry = midranks(x), midranks(y)
    if rx.shape != ry.shape:
        raise ValueError(f"spearman: lengths differ ({rx.size} vs {ry.size})")
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float(np.dot(rx, rx) * np.dot(ry, ry)))
    return float(np.dot(rx, ry) / den) if den > 0 else float("nan")
