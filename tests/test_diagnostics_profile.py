"""Tail-accuracy diagnostics: pairwise agreement (ties both ways), bootstrap CIs, and the h(v) estimate."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.diagnostics import (
    accuracy_by_band,
    estimate_h,
    midrank_quantiles,
    pair_accuracy,
    paired_accuracy_difference,
    pairs_within_groups,
    tail_accuracy_profile,
)


def test_pair_accuracy_counts_ties_both_ways():
    #            correct  wrong  proxy tie  gold tie  unscored
    proxy_a = [2.0, 0.0, 1.0, 5.0, float("nan")]
    proxy_b = [1.0, 1.0, 1.0, 3.0, 0.0]
    gold_a = [1.0, 1.0, 1.0, 2.0, 1.0]
    gold_b = [0.0, 0.0, 0.0, 2.0, 0.0]
    acc = pair_accuracy(proxy_a, proxy_b, gold_a, gold_b)
    assert (acc.n_pairs, acc.n_correct, acc.n_wrong, acc.n_proxy_ties) == (3, 1, 1, 1)
    assert (acc.n_gold_ties, acc.n_unscored) == (1, 1)
    assert acc.acc_ties_wrong == pytest.approx(1 / 3) and acc.acc_ties_half == pytest.approx(1.5 / 3)
    assert math.isnan(acc.ci_ties_wrong[0])  # no generator, no CI
    empty = pair_accuracy([1.0], [1.0], [0.0], [0.0])
    assert empty.n_pairs == 0 and math.isnan(empty.acc_ties_wrong)


def test_bootstrap_ci_is_reproducible_and_covers():
    rng = np.random.default_rng(1)
    n = 2000
    gold_a, gold_b = rng.normal(size=n), rng.normal(size=n)
    flip = rng.random(n) < 0.3  # the proxy disagrees on 30% of pairs
    proxy_a = np.where(flip, gold_b, gold_a)
    proxy_b = np.where(flip, gold_a, gold_b)
    a1 = pair_accuracy(proxy_a, proxy_b, gold_a, gold_b, rng=np.random.default_rng(7), n_boot=500)
    a2 = pair_accuracy(proxy_a, proxy_b, gold_a, gold_b, rng=np.random.default_rng(7), n_boot=500)
    assert a1 == a2
    lo, hi = a1.ci_ties_wrong
    assert lo < a1.acc_ties_wrong < hi and lo < 0.7 < hi and hi - lo < 0.06
    groups = np.arange(n) // 20
    g = pair_accuracy(proxy_a, proxy_b, gold_a, gold_b, groups=groups, rng=np.random.default_rng(7), n_boot=500)
    assert g.acc_ties_wrong == a1.acc_ties_wrong and g.ci_ties_wrong[0] < 0.7 < g.ci_ties_wrong[1]


def test_tail_profile_separates_high_from_low():
    rng = np.random.default_rng(2)
    n = 3000
    # a proxy that is exact on low-reward pairs and coin-flips on high-reward ones (the tail failure)
    low_g = rng.uniform(0, 0.5, size=(2, n))
    high_g = rng.uniform(0.9, 1.0, size=(2, n))
    high_p = rng.uniform(size=(2, n))
    prof = tail_accuracy_profile(
        (high_p[0], high_p[1], high_g[0], high_g[1]),
        (low_g[0], low_g[1], low_g[0], low_g[1]),
        rng=np.random.default_rng(0),
        n_boot=200,
    )
    assert prof["low"].acc_ties_wrong == 1.0
    assert prof["high"].ci_ties_wrong[0] < 0.5 < prof["high"].ci_ties_wrong[1]
    assert prof["gap_ties_wrong"] < -0.4


def test_paired_difference_and_bands():
    rng = np.random.default_rng(3)
    g = rng.normal(size=4000)
    groups = np.arange(4000) // 8
    ia, ib = pairs_within_groups(groups)
    assert len(ia) == 500 * 28 and np.all(groups[ia] == groups[ib]) and np.all(ia < ib)
    coarse = np.round(g)  # ties many pairs
    d = paired_accuracy_difference(
        coarse[ia], coarse[ib], g[ia], g[ib], g[ia], g[ib], groups=groups[ia], rng=np.random.default_rng(0), n_boot=200
    )
    base = pair_accuracy(coarse[ia], coarse[ib], g[ia], g[ib])
    assert d["ties_wrong"] == pytest.approx(1 - base.acc_ties_wrong)
    assert d["ci_ties_wrong"][0] < d["ties_wrong"] < d["ci_ties_wrong"][1]
    u = midrank_quantiles(g)
    bands = accuracy_by_band(coarse[ia], coarse[ib], g[ia], g[ib], u[ia], u[ib], edges=(0, 0.5, 1))
    assert sum(b["n_pairs"] for b in bands) == base.n_pairs
    assert [b["band"] for b in bands] == [(0.0, 0.5), (0.5, 1.0)]


def test_midrank_quantiles():
    np.testing.assert_allclose(midrank_quantiles([3.0, 1.0, 2.0, 2.0]), [7 / 8, 1 / 8, 4 / 8, 4 / 8])
    q = midrank_quantiles([5.0, 1.0, 1.0, 9.0], groups=[0, 0, 1, 1])
    np.testing.assert_allclose(q, [0.75, 0.25, 0.25, 0.75])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=60), st.lists(st.integers(0, 3), min_size=60, max_size=60))
def test_midrank_quantiles_average_half_in_every_group(values, groups):
    g = np.array(groups[: len(values)])
    q = midrank_quantiles(np.array(values, float), g)
    for k in np.unique(g):
        assert q[g == k].mean() == pytest.approx(0.5)


def test_estimate_h_known_shapes():
    rng = np.random.default_rng(4)
    gold = rng.normal(size=4000)
    mid = (np.arange(10) + 0.5) / 10
    perfect = estimate_h(gold, gold, 10)
    np.testing.assert_allclose(perfect.h, mid, atol=1e-12)
    np.testing.assert_allclose(estimate_h(-gold, gold, 10).h, 1 - mid, atol=1e-12)
    # a proxy reversed in the top 10%: h decreases there
    top = gold > np.quantile(gold, 0.9)
    proxy = np.where(top, np.quantile(gold, 0.9) + (gold.max() - gold), gold)
    e = estimate_h(proxy, gold, 10, rng=np.random.default_rng(0), n_boot=100)
    np.testing.assert_allclose(e.h[:9], mid[:9], atol=1e-3)
    assert abs(e.h[9] - 0.95) < 1e-3  # the band's mean is unchanged, the order inside it is not
    assert np.all(e.lo <= e.h + 1e-12) and np.all(e.h <= e.hi + 1e-12)
    # integration: under pi0 (G(v) = v) every proxy has E[u] = 1/2; best-of-4 (G = v^4) rewards a good proxy
    assert e.integrate(lambda v: v) == pytest.approx(0.5)
    assert perfect.integrate(lambda v: v**4) > estimate_h(rng.normal(size=4000), gold, 10).integrate(lambda v: v**4)
    assert e(0.97) == e.h[9] and e([0.0, 1.0]).tolist() == [e.h[0], e.h[9]]


def test_estimate_h_ties_and_nan():
    rng = np.random.default_rng(5)
    gold = rng.normal(size=3000)
    proxy = np.where(gold > 0.5, 1.0, 0.0)  # two tied proxy values
    proxy[:10] = np.nan
    e = estimate_h(proxy, gold, 4, rng=np.random.default_rng(0), n_boot=50)
    assert e.n == 2990 and e.n_dropped == 10
    assert e.tie_bands.shape == (2, 2) and e.tie_bands[0, 0] == 0.0 and e.tie_bands[1, 1] == 1.0
    # the tie band [0, F(0.5)] spreads its mean u uniformly: every bin fully inside it has the same h
    inside = e.edges[1:] <= e.tie_bands[0, 1]
    assert np.allclose(e.h[inside], e.tie_h[0])
    np.testing.assert_allclose(e.mass.sum(), e.n)
    assert e.integrate(lambda v: v) == pytest.approx(0.5)
    d = e.to_dict()
    assert len(d["h"]) == 4 and d["n_dropped"] == 10


def test_estimate_h_with_groups_and_errors():
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(300), 8)
    shift = rng.normal(size=300)[groups] * 5  # prompt difficulty: without groups the ranks would mix prompts
    gold = shift + rng.normal(size=groups.size)
    proxy = shift + gold + 0.5 * rng.normal(size=groups.size)
    e = estimate_h(proxy, gold, [0, 0.5, 0.75, 1.0], groups=groups, rng=np.random.default_rng(0), n_boot=50)
    assert np.all(np.diff(e.h) > 0) and e.integrate(lambda v: v) == pytest.approx(0.5)
    assert np.all(e.lo < e.h) and np.all(e.h < e.hi)
    with pytest.raises(ValueError):
        estimate_h(proxy, gold[:-1])
    with pytest.raises(ValueError):
        estimate_h(proxy, gold, [0.1, 1.0])
    assert math.isnan(estimate_h([np.nan], [1.0], 2).h[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 4), st.integers(0, 2)), min_size=1, max_size=20))
def test_weighted_midrank_equals_the_count_version_on_repeated_values(items):
    """Integer weights act as repetitions: one definition serves samples (diagnostics) and pmfs (theory.bandit)."""
    values = np.array([v for v, _w, _g in items], float)
    weights = np.array([w for _v, w, _g in items], float)
    groups = np.array([g for _v, _w, g in items])
    got = midrank_quantiles(values, groups, weights=weights)
    rep = midrank_quantiles(np.repeat(values, weights.astype(int)), np.repeat(groups, weights.astype(int)))
    first = np.concatenate([[0], np.cumsum(weights.astype(int))[:-1]])
    np.testing.assert_allclose(got, rep[first], atol=1e-12)
    with pytest.raises(ValueError, match="weights"):
        midrank_quantiles(values, weights=weights[:-1] if len(weights) > 1 else np.ones(2))
