"""rewards.stats: the one statistics module, checked against scipy and against hand-computed cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from rewards.stats import (
    Interval,
    bootstrap_ratio_of_means,
    interval,
    midranks,
    moving_average,
    percentile_interval,
    spearman,
    summarize_curve,
)


def test_interval_matches_a_hand_computed_t_interval():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    iv = interval(x)
    half = scipy_stats.t.ppf(0.975, 3) * np.std(x, ddof=1) / 2.0
    assert isinstance(iv, Interval)
    assert iv.mean == pytest.approx(3.5) and iv.n == 4
    assert (iv.lo, iv.hi) == pytest.approx((3.5 - half, 3.5 + half))
    assert iv.to_dict() == {"mean": 3.5, "lo": iv.lo, "hi": iv.hi, "n": 4}


def test_interval_over_seeds_of_curves_is_per_position():
    x = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 4.0]])
    iv = interval(x)
    assert iv.mean.shape == (3,)
    np.testing.assert_allclose(iv.mean, [1.0, 1.0, 3.0])
    assert iv.lo[1] == iv.hi[1] == 1.0  # no spread
    assert all(interval(x[:, j]).lo == pytest.approx(iv.lo[j]) for j in range(3))


def test_one_seed_has_no_interval_and_nan_is_explicit():
    iv = interval([0.7])
    assert iv.mean == 0.7 and math.isnan(iv.lo) and math.isnan(iv.hi)
    assert math.isnan(interval([1.0, float("nan"), 2.0]).mean)
    om = interval([1.0, float("nan"), 3.0], nan="omit")
    assert om.mean == 2.0 and om.lo < 2.0 < om.hi
    with pytest.raises(ValueError):
        interval([1.0, 2.0], nan="zero")


def test_interval_excludes_zero():
    assert interval([1.0, 1.1, 0.9]).excludes_zero()
    assert not interval([1.0, -1.0, 0.5]).excludes_zero()


def test_summarize_curve_names_and_values():
    curve = np.array([[0.2, 0.5, 0.9, 0.6, 0.4], [0.1, 0.2, 0.3, 0.4, 0.5]])
    s = summarize_curve(curve)
    np.testing.assert_array_equal(s.peak_step, [2, 4])
    np.testing.assert_allclose(s.peak, [0.9, 0.5])
    np.testing.assert_allclose(s.final, [0.4, 0.5])
    np.testing.assert_allclose(s.drop_after_peak, [0.5, 0.0])
    np.testing.assert_allclose(s.lost_fraction_of_gain, [0.5 / 0.7, 0.0])
    steps = summarize_curve(curve, steps=[0, 10, 20, 30, 40]).peak_step
    np.testing.assert_array_equal(steps, [20, 40])


def test_lost_fraction_is_nan_without_a_gain():
    s = summarize_curve(np.array([[0.5, 0.4, 0.3], [0.5, 0.5, 0.5], [0.2, 0.6, 0.4]]))
    assert np.isnan(s.lost_fraction_of_gain[:2]).all() and s.lost_fraction_of_gain[2] == pytest.approx(0.5)
    np.testing.assert_allclose(s.drop_after_peak, [0.2, 0.0, 0.2])


def test_summarize_curve_smooths_peak_and_final_but_not_start():
    curve = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.3])
    s = summarize_curve(curve, smooth=3)
    sm = moving_average(curve, 3)
    assert s.peak == pytest.approx(sm.max()) and s.final == pytest.approx(sm[-1]) and s.start == 0.0
    assert s.peak == pytest.approx(1 / 3)


def test_moving_average_window_at_the_ends():
    np.testing.assert_allclose(moving_average([1.0, 2.0, 3.0, 4.0], 3), [1.5, 2.0, 3.0, 3.5])
    np.testing.assert_array_equal(moving_average([1.0, 5.0], 1), [1.0, 5.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=3, max_size=30), st.integers(0, 2**31))
def test_spearman_and_midranks_match_scipy(values, seed):
    x = np.asarray(values, dtype=float)
    y = np.random.default_rng(seed).integers(-2, 3, size=x.size).astype(float)
    np.testing.assert_allclose(midranks(x), scipy_stats.rankdata(x))
    ref = scipy_stats.spearmanr(x, y).statistic if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
    ours = spearman(x, y)
    assert (math.isnan(ref) and math.isnan(ours)) or ours == pytest.approx(ref, abs=1e-12)


def test_percentile_interval_ignores_nan_and_reports_none_left():
    lo, hi = percentile_interval(np.r_[np.arange(101.0), np.nan])
    assert (lo, hi) == pytest.approx((2.5, 97.5))
    assert all(math.isnan(v) for v in percentile_interval([np.nan]))


def test_bootstrap_ratio_of_means_is_seeded_and_brackets_the_ratio():
    num, den = np.array([10.0, 12.0, 9.0, 11.0]), np.array([2.0, 2.5, 1.5, 2.0])
    a = bootstrap_ratio_of_means(num, den, np.random.default_rng(0))
    b = bootstrap_ratio_of_means(num, den, np.random.default_rng(0))
    assert a == b and a["lo"] <= a["ratio_of_means"] <= a["hi"]
    assert a["ratio_of_means"] == pytest.approx(42 / 8)
    with pytest.raises(ValueError):
        bootstrap_ratio_of_means(num, den[:2], np.random.default_rng(0))


def test_format_interval():
    from rewards.stats import format_interval

    iv = interval([0.1, 0.2, 0.3])
    assert format_interval(iv) == f"0.200 [{iv.lo:.3f}, {iv.hi:.3f}]"
    assert format_interval(iv.to_dict(), digits=1, scale=100) == f"20.0 [{100 * iv.lo:.1f}, {100 * iv.hi:.1f}]"
    assert format_interval(interval([0.5])) == "0.500"  # one seed: no interval
    assert format_interval({"mean": 1.0, "lo": 1.0, "hi": 1.0001}, 3, min_width=1e-3) == "1.000"


def test_percentile_bands_match_percentile_interval_per_column():
    from rewards.stats import percentile_bands, percentile_interval

    rng = np.random.default_rng(0)
    s = rng.normal(size=(300, 4))
    s[:10, 1] = np.nan
    s[:, 3] = np.nan
    lo, hi = percentile_bands(s, 0.1)
    for j in range(3):
        assert (lo[j], hi[j]) == pytest.approx(percentile_interval(s[:, j], 0.1))
    assert np.isnan(lo[3]) and np.isnan(hi[3])
