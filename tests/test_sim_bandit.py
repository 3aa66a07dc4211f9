"""sim.bandit: the world, exact tilt / best-of-n, sampled best-of-n, checked against theory/ and brute force.

sim never imports theory; here the two are independent witnesses of the same numbers. Shapes are tiny and
jitted functions are reused (JAX compiles once per shape).
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import QuantileMap, parse_error
from sim import bandit as SB
from theory import bandit as TB
from theory import continuous as TC

FAST = settings(max_examples=15, deadline=None)

_mid = jax.jit(SB.mid_rank_quantiles)
_bon = jax.jit(SB.bon_pmf)
_tilt = jax.jit(SB.tilt_logpmf)
_eval = jax.jit(SB.evaluate)


@st.composite
def bandits(draw):
    k = draw(st.sampled_from([3, 6]))  # two shapes only: one compilation each
    w = np.array(draw(st.lists(st.integers(0, 5), min_size=k, max_size=k)), dtype=float)
    w[0] += w.sum() == 0
    levels = st.integers(0, 3).map(float)  # few levels -> many ties
    true = np.array(draw(st.lists(levels, min_size=k, max_size=k)))
    proxy = np.array(draw(st.lists(levels, min_size=k, max_size=k)))
    return w / w.sum(), true, proxy


def _logp(p):
    with np.errstate(divide="ignore"):
        return np.log(p).astype(np.float32)


@FAST
@given(bandits(), st.sampled_from([1, 2, 7, 64]), st.sampled_from([0.05, 0.3, 2.0]))
def test_hypothesis_bandits_match_finite_k_theory(bandit, n, beta):
    p, true, proxy = bandit
    logp = _logp(p)
    assert np.allclose(_mid(p.astype(np.float32), true), TB.mid_rank_quantiles(p, true), atol=1e-6)
    bon = np.asarray(_bon(logp, proxy, n))
    assert np.allclose(bon, TB.bon_pmf(p, proxy, n), atol=2e-6)
    tilt = np.exp(np.asarray(_tilt(logp, proxy, beta)))
    assert np.allclose(tilt, TB.tilt_pmf(p, proxy, beta), atol=2e-6)
    u = TB.mid_rank_quantiles(p, true)
    pairs = ((TB.bon_pmf(p, proxy, n), jnp.log(bon)), (TB.tilt_pmf(p, proxy, beta), _tilt(logp, proxy, beta)))
    for pmf, logpi in pairs:
        ours = {k: float(v) for k, v in _eval(logp, logpi, u, true).items()}
        ref = TB.evaluate(p, true, pmf)
        for key in ("win_rate", "expected_true", "kl"):
            assert ours[key] == pytest.approx(float(ref[key]), abs=2e-5), key


def _brute_force_bon(p, proxy, n):
    """Enumerate all K^n ordered draws; the winner is uniform among the draws at the top proxy value."""
    k = len(p)
    out = np.zeros(k)
    for draw in itertools.product(range(k), repeat=n):
        prob = math.prod(p[i] for i in draw)
        best = max(proxy[i] for i in draw)
        tied = [i for i in draw if proxy[i] == best]
        for i in tied:
            out[i] += prob / len(tied)
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_bon_pmf_equals_brute_force_enumeration(n):
    p = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    proxy = np.array([1.0, 2.0, 2.0, 0.0, 1.0])  # two tie groups
    got = np.asarray(_bon(_logp(p), proxy.astype(np.float32), n))
    assert np.allclose(got, _brute_force_bon(p, proxy, n), atol=1e-6)
    assert got.sum() == pytest.approx(1.0, abs=1e-6)


# two worlds for everything below: a small one with a random base policy, and a large equal-mass one
SMALL = SB.WorldConfig(contexts=3, arms=40, base="random:1")
LARGE = SB.WorldConfig(contexts=16, arms=4000)


@pytest.fixture(scope="module")
def small():
    return SB.make_world(jax.random.key(5), SMALL)


@pytest.fixture(scope="module")
def large():
    return SB.make_world(jax.random.key(11), LARGE)


def test_mid_ranks_uniform_grid_for_equal_mass_arms_and_base_win_rate_is_half(small, large):
    u = np.sort(np.asarray(large.u), axis=-1)
    off = np.abs(u - (np.arange(4000) + 0.5) / 4000) > 1e-5  # float32 sums
    # a few float32 Gaussian draws collide (birthday problem): those arms tie and share their mid-rank
    assert off.mean() < 1e-3
    assert np.allclose(np.sum(np.exp(small.logp0) * small.u, axis=-1), 0.5, atol=1e-5)


def test_world_is_a_pure_function_of_the_key(small):
    again = SB.make_world(jax.random.key(5), SMALL)
    other = SB.make_world(jax.random.key(6), SMALL)
    assert all(np.array_equal(x, y) for x, y in zip(small, again, strict=True))
    assert not np.array_equal(small.true, other.true)
    q = QuantileMap.parse("noise:0.5:1")
    assert np.array_equal(SB.proxy_for(small, q, jax.random.key(9)), SB.proxy_for(small, q, jax.random.key(9)))
    assert not np.array_equal(SB.proxy_for(small, q, jax.random.key(9)), SB.proxy_for(small, q, jax.random.key(8)))


def test_permuting_arms_permutes_exact_results(small):
    w = small
    proxy = SB.proxy_for(w, QuantileMap.parse("tie:0.6:0.8+reverse:0.9:1"), jax.random.key(6))
    perm = np.random.default_rng(0).permutation(40)
    wp = SB.World(*(x[:, perm] for x in w))
    assert np.allclose(_mid(jnp.exp(wp.logp0), wp.true), w.u[:, perm], atol=1e-6)  # mid-ranks ignore arm order
    for f in (lambda lp, r: _bon(lp, r, 9), lambda lp, r: jnp.exp(_tilt(lp, r, 0.1))):
        assert np.allclose(f(wp.logp0, proxy[:, perm]), f(w.logp0, proxy)[:, perm], atol=1e-6)


def test_zero_width_band_is_the_identity(small):
    ident = SB.quantile_proxy(small, QuantileMap.identity(), jax.random.key(0))
    for spec in ("reverse:0.5:0.5", "top-wrong:0", "noise:0.3:0.3", "tie:1:1"):
        assert np.array_equal(SB.quantile_proxy(small, QuantileMap.parse(spec), jax.random.key(0)), ident), spec


def test_additive_proxy_is_true_plus_error(small):
    assert np.array_equal(SB.proxy_for(small, parse_error("gauss:0"), jax.random.key(1)), small.true)
    # (Student t draws compile a slow rejection sampler; the CLI test covers them)
    r = SB.proxy_for(small, parse_error("gauss:0.5"), jax.random.key(1))
    assert 0.3 < float(np.std(np.asarray(r - small.true))) < 0.7


@pytest.mark.parametrize("spec", ["identity", "top-wrong:0.1", "tie:0.9:1", "worst-wrong:0.5"])
def test_exact_tilt_and_bon_on_many_equal_mass_arms_match_continuous_theory(large, spec):
    q = QuantileMap.parse(spec)
    w = SB.World(*(x[:1] for x in large))
    r = SB.quantile_proxy(w, q, jax.random.key(1))
    for beta in (0.03, 0.2):
        ev = _eval(w.logp0, _tilt(w.logp0, r, beta), w.u, w.true)
        assert float(ev["win_rate"][0]) == pytest.approx(float(TC.tilt_win_rate(q, beta)), abs=1e-3)
        assert float(ev["kl"][0]) == pytest.approx(float(TC.tilt_kl(beta, q)), abs=2e-3)
    for n in (4, 256):
        ev = _eval(w.logp0, jnp.log(_bon(w.logp0, r, n)), w.u, w.true)
        assert float(ev["win_rate"][0]) == pytest.approx(float(TC.bon_win_rate(q, n)), abs=1e-3)
        assert float(ev["kl"][0]) == pytest.approx(float(TC.bon_kl(n, q)), abs=2e-3)


@pytest.mark.parametrize(
    "spec,n",
    [("reversed", 8), ("top-wrong:0.1", 64), ("worst-wrong:0.1", 1024), ("noise:0.9:1", 256), ("tie:0.8:1", 32)],
)
def test_sampled_bon_within_4_se_of_theory(large, spec, n):
    q = QuantileMap.parse(spec)
    r = SB.quantile_proxy(large, q, jax.random.key(12))
    res = SB.sample_bon(jax.random.key(13), large, r, n, 3200)
    theory = float(TC.bon_win_rate(q, n))
    assert res.se > 0
    assert abs(res.win_rate - theory) < 4 * res.se, (res, theory)
    if res.kl_se > 0:
        assert abs(res.kl_estimate - float(TC.bon_kl(n, q))) < 4 * res.kl_se + 5e-3
    assert res.exact_win_rate == pytest.approx(theory, abs=5 * res.se)


def test_sampled_bon_breaks_ties_uniformly():
    # two arms tied at the top: best-of-n picks each half the time whatever n is
    logp = np.log(np.full((1, 4), 0.25, np.float32))
    w = SB.World(
        logp0=jnp.asarray(logp), true=jnp.asarray([[0.0, 1, 2, 3]]), u=jnp.asarray([[0.125, 0.375, 0.625, 0.875]])
    )
    proxy = jnp.asarray([[0.0, 0.5, 1.0, 1.0]])
    res = SB.sample_bon(jax.random.key(0), w, proxy, 16, 20_000)
    assert res.win_rate == pytest.approx(0.75, abs=4 * 0.125 / math.sqrt(20_000) + 1e-3)


def test_bad_world_config_names_the_field():
    with pytest.raises(ValueError, match="base"):
        SB.WorldConfig(base="pareto:2")
    with pytest.raises(ValueError, match="arms"):
        SB.WorldConfig(arms=0)
