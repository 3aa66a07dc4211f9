"""theory.bandit: exact finite-K tilt and best-of-n, and its agreement with the continuous theory."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import QuantileMap
from theory import bandit as B
from theory import continuous as C

FAST = settings(max_examples=30, deadline=None)


@st.composite
def bandits(draw, max_k=8):
    k = draw(st.integers(1, max_k))
    w = np.array(draw(st.lists(st.integers(0, 5), min_size=k, max_size=k)), dtype=float)
    if w.sum() == 0:
        w[0] = 1.0
    levels = st.integers(0, 3).map(float)  # few levels -> many ties
    true = np.array(draw(st.lists(levels, min_size=k, max_size=k)))
    proxy = np.array(draw(st.lists(levels, min_size=k, max_size=k)))
    return w / w.sum(), true, proxy


def test_hand_computed_best_of_3_with_a_tie():
    p = np.full(4, 0.25)
    pmf = B.bon_pmf(p, [1, 2, 2, 4], 3)
    # levels 1, 2 (tied, mass 1/2), 4: F = 1/4, 3/4, 1 -> (1/4)^3, (3/4)^3 - (1/4)^3 split evenly, 1 - (3/4)^3
    assert np.allclose(pmf, [1 / 64, 13 / 64, 13 / 64, 37 / 64], atol=1e-15)
    res = B.evaluate(p, [1, 2, 3, 4], pmf)
    assert res["expected_true"] == pytest.approx((1 + 2 * 13 + 3 * 13 + 4 * 37) / 64)
    assert res["win_rate"] == pytest.approx((1 / 8 + 3 / 8 * 13 + 5 / 8 * 13 + 7 / 8 * 37) / 64)


def test_tilt_pmf_by_hand_and_limits():
    p = np.array([0.5, 0.3, 0.2])
    proxy = np.array([0.0, 1.0, 3.0])
    pmf = B.tilt_pmf(p, proxy, 2.0)
    expected = p * np.exp(proxy / 2.0)
    assert np.allclose(pmf, expected / expected.sum(), atol=1e-15)
    assert np.allclose(B.tilt_pmf(p, proxy, np.inf), p)
    assert np.allclose(B.tilt_pmf(p, proxy, 1e-6), [0, 0, 1])  # no overflow at tiny beta
    assert B.tilt_pmf(p, proxy, np.array([1.0, 2.0, 3.0])).shape == (3, 3)
    assert B.bon_pmf(p, proxy, np.array([1.0, 5.0])).shape == (2, 3)


def test_mid_ranks():
    u = B.mid_rank_quantiles([0.2, 0.3, 0.5], [5.0, 5.0, 7.0])
    assert np.allclose(u, [0.25, 0.25, 0.75])


@FAST
@given(bandits(), st.floats(1.0, 200.0))
def test_bon_pmf_is_a_distribution_with_bounded_kl(bandit, n):
    p, true, proxy = bandit
    pmf = B.bon_pmf(p, proxy, n)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12) and np.all(pmf >= 0)
    res = B.evaluate(p, true, pmf)
    assert res["kl"] <= math.log(n) - (n - 1) / n + 1e-12
    base = B.evaluate(p, true, p)
    assert base["win_rate"] == pytest.approx(0.5, abs=1e-12) and base["kl"] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(B.bon_pmf(p, proxy, 1.0), p, atol=1e-15)


@FAST
@given(bandits(), st.floats(0.01, 100.0))
def test_tilt_is_the_kl_regularized_optimum(bandit, beta):
    """pi_beta maximizes E_pi[r] - beta KL(pi||p): no random perturbation on p's support does better."""
    p, _true, proxy = bandit
    pmf = B.tilt_pmf(p, proxy, beta)

    def objective(q):
        return float(np.sum(q * proxy)) - beta * B.evaluate(p, proxy, q)["kl"]

    best = objective(pmf)
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = pmf * np.exp(0.3 * rng.standard_normal(p.size))
        q /= q.sum()
        assert objective(q) <= best + 1e-9


@pytest.mark.parametrize(
    "spec", ["identity", "top-wrong:0.25", "worst-wrong:0.9", "tie:0.9:1", "reverse:0:0.1+tie:0.9:1", "sink:0.1"]
)
def test_many_equal_mass_arms_reproduce_the_continuous_formulas(spec):
    """K equal-mass arms at the midpoints of K slots (the map's breakpoints fall on slot edges) converge to
    the continuous theory; the error shrinks with K (midpoint sums: O(1/K^2) for the tilt, O(1/K) for bon)."""
    qmap = QuantileMap.parse(spec)
    beta = float(C.beta_for_kl(1.5))
    n = 12
    errors = []
    for k in (500, 4000):
        u = (np.arange(k) + 0.5) / k
        p = np.full(k, 1.0 / k)
        v = np.round(qmap.f(u), 12)  # tie members share one exact proxy value
        tilt = B.evaluate(p, u, B.tilt_pmf(p, v, beta))
        bon = B.evaluate(p, u, B.bon_pmf(p, v, n))
        ct, cb = C.tilt_stats(qmap, beta), C.bon_stats(qmap, n)
        errors.append(
            max(
                abs(tilt["win_rate"] - ct["win_rate"]),
                abs(tilt["kl"] - ct["kl"]),
                abs(bon["win_rate"] - cb["win_rate"]),
                abs(bon["kl"] - cb["kl"]),
            )
        )
    assert errors[1] < 2e-5
    assert errors[1] < errors[0]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="sum to 1"):
        B.tilt_pmf([0.5, 0.6], [0, 1], 1.0)
    with pytest.raises(ValueError, match="proxy has shape"):
        B.bon_pmf([0.5, 0.5], [0, 1, 2], 2)
    with pytest.raises(ValueError, match=">= 0"):
        B.bon_pmf([1.5, -0.5], [0, 1], 2)
    with pytest.raises(ValueError, match="n must"):
        B.bon_pmf([0.5, 0.5], [0, 1], 0)
    with pytest.raises(ValueError, match="beta"):
        B.tilt_pmf([0.5, 0.5], [0, 1], -1.0)
    with pytest.raises(ValueError, match="finite"):
        B.evaluate([0.5, 0.5], [0, np.nan], [0.5, 0.5])
