"""theory.continuous: exact closed forms against the quadrature reference, Theorem 1, docs/theory.md's claims."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards import QuantileMap, SpecError
from theory import continuous as C
from theory import reference as R

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ strategies
@st.composite
def perm_maps(draw, kinds=("inc", "dec", "tie"), min_k=1, max_k=5):
    k = draw(st.integers(min_k, max_k))
    perm = draw(st.permutations(list(range(k))))
    ks = draw(st.lists(st.sampled_from(kinds), min_size=k, max_size=k))
    return QuantileMap.from_permutation(perm, ks)


_num = st.integers(0, 20).map(lambda i: i / 20)


@st.composite
def spec_maps(draw, band_kinds=("reverse", "tie")):
    """Parsed specs from the grammar (noise bands are left to a few dedicated cases: their 2-D reference is slow)."""
    form = draw(st.sampled_from(["bands", "sink", "shorthand", "named"]))
    if form == "named":
        spec = draw(st.sampled_from(["identity", "reversed"]))
    elif form == "sink":
        spec = f"sink:{draw(_num):g}"
    elif form == "shorthand":
        spec = f"{draw(st.sampled_from(['top-wrong', 'worst-wrong', 'top-correct']))}:{draw(_num):g}"
    else:
        cuts = sorted(draw(st.lists(_num, min_size=2, max_size=4, unique=True)))
        pairs = zip(cuts[::2], cuts[1::2], strict=False)  # an odd last cut is dropped
        terms = [f"{draw(st.sampled_from(band_kinds))}:{a:g}:{b:g}" for a, b in pairs]
        spec = "+".join(terms)
    return QuantileMap.parse(spec)


inv_betas = st.floats(-3.0, 3.5).map(lambda x: 10.0**x)  # 1/beta from 1e-3 to ~3e3
ns = st.one_of(st.integers(1, 64).map(float), st.floats(1.0, 500.0))


# ----------------------------------------------------------------------- closed forms vs quadrature
@FAST
@given(perm_maps(), inv_betas)
def test_tilt_closed_form_matches_proposition1_quadrature(qmap, t):
    ref = R.map_tilt_reference(qmap, 1.0 / t)
    got = C.tilt_stats(qmap, 1.0 / t)
    assert abs(float(got["win_rate"]) - ref["win_rate"]) < 1e-8
    assert abs(float(got["kl"]) - ref["kl"]) < 1e-8


@FAST
@given(perm_maps(), ns)
def test_bon_closed_form_matches_quadrature(qmap, n):
    ref = R.map_bon_reference(qmap, n)
    got = C.bon_stats(qmap, n)
    assert abs(float(got["win_rate"]) - ref["win_rate"]) < 1e-8
    assert abs(float(got["kl"]) - ref["kl"]) < 1e-8


@FAST
@given(spec_maps(), inv_betas, ns)
def test_parsed_specs_match_quadrature(qmap, t, n):
    for got, ref in (
        (C.tilt_stats(qmap, 1.0 / t), R.map_tilt_reference(qmap, 1.0 / t)),
        (C.bon_stats(qmap, n), R.map_bon_reference(qmap, n)),
    ):
        assert abs(float(got["win_rate"]) - ref["win_rate"]) < 1e-8
        assert abs(float(got["kl"]) - ref["kl"]) < 1e-8


@pytest.mark.parametrize("spec,beta,n", [("noise:0.2:0.5", 0.05, 9.5), ("reverse:0:0.3+noise:0.8:1", 0.5, 40.0)])
def test_noise_bands_match_two_dimensional_quadrature(spec, beta, n):
    qmap = QuantileMap.parse(spec)
    for got, ref in (
        (C.tilt_stats(qmap, beta), R.map_tilt_reference(qmap, beta)),
        (C.bon_stats(qmap, n), R.map_bon_reference(qmap, n)),
    ):
        assert abs(float(got["win_rate"]) - ref["win_rate"]) < 1e-8
        assert abs(float(got["kl"]) - ref["kl"]) < 1e-8


def test_reference_on_a_gaussian_r0_matches_the_tilted_normal():
    """The reference itself, on a textbook case: R0 ~ N(mu, s^2), r = r* -> pi_beta = N(mu + s^2/beta, s^2)."""
    from scipy import stats

    mu, s, beta = 1.0, 2.0, 0.7
    ref = R.proposition1(lambda x: x, beta, dist=stats.norm(mu, s))
    assert ref["expected_true"] == pytest.approx(mu + s**2 / beta, abs=1e-6)
    assert ref["kl"] == pytest.approx(s**2 / (2 * beta**2), abs=1e-6)
    assert ref["win_rate"] == pytest.approx(stats.norm.cdf(s / beta / math.sqrt(2)), abs=1e-6)


def test_vectorized_over_beta_and_n():
    qmap = QuantileMap.parse("top-wrong:0.25+tie:0:0.1")
    betas = np.array([[np.inf, 1.0], [0.1, 1e-4]])
    w = C.tilt_win_rate(qmap, betas)
    assert w.shape == (2, 2)
    for idx in np.ndindex(2, 2):
        assert w[idx] == pytest.approx(float(C.tilt_win_rate(qmap, betas[idx])), abs=1e-15)
    assert w[0, 0] == pytest.approx(0.5, abs=1e-15)  # beta = inf is the base policy
    assert C.bon_kl(np.arange(1, 6), qmap).shape == (5,)


# ------------------------------------------------------------------------------------------- Theorem 1
@FAST
@given(perm_maps(kinds=("inc", "dec", "noise")), inv_betas, ns)
def test_kl_is_the_same_for_every_rearrangement(qmap, t, n):
    # the general piecewise code (not the theorem1_kl shortcut) must give Theorem 1's KL for every map
    assert float(C.tilt_stats(qmap, 1.0 / t)["kl"]) == pytest.approx(float(C.theorem1_kl(1.0 / t)), abs=1e-10)
    assert float(C.bon_stats(qmap, n)["kl"]) == pytest.approx(math.log(n) - (n - 1) / n, abs=1e-10)


@pytest.mark.parametrize("t", [1e-3, 0.5, 1.0, 7.0, 30.0, 200.0])
def test_theorem1_kl_matches_the_printed_formula(t):
    # docs/theory.md section 1: KL = ((1/b - 1) e^{1/b} + 1)/(e^{1/b} - 1) - log b - log(e^{1/b} - 1), safe to evaluate here
    e = math.exp(t)
    printed = ((t - 1) * e + 1) / (e - 1) + math.log(t) - math.log(e - 1)
    assert float(C.theorem1_kl(1.0 / t)) == pytest.approx(printed, abs=1e-9)


def test_stable_up_to_kl_12_against_high_precision():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    beta = float(C.beta_for_kl(12.0))
    t = mpmath.mpf(1) / mpmath.mpf(beta)
    assert 1e5 < float(t) < 1e6
    e = mpmath.exp(t)
    kl_exact = ((t - 1) * e + 1) / (e - 1) + mpmath.log(t) - mpmath.log(e - 1)
    assert float(C.theorem1_kl(beta)) == pytest.approx(float(kl_exact), abs=1e-9)
    assert float(C.tilt_stats(None, beta)["kl"]) == pytest.approx(12.0, abs=1e-9)
    # Theorem 1's W = int f^{-1}(u) e^{u/b} du / (b (e^{1/b} - 1)) for "Top 25% wrong", in 60 digits
    qmap = QuantileMap.parse("top-wrong:0.25")

    def finv(u):
        return 1.75 - u if u > 0.75 else u

    w_exact = mpmath.quad(lambda u: finv(u) * mpmath.exp(t * (u - 1)), [0, 0.75, 1]) * t / (1 - mpmath.exp(-t))
    assert float(C.tilt_win_rate(qmap, beta)) == pytest.approx(float(w_exact), abs=1e-10)
    # best-of-n at the same KL (n ~ 4e5): docs/theory.md's reverse-band E_n in 60 digits
    n = int(C.n_for_kl(12.0))
    assert n > 1e5
    a, b, nm = mpmath.mpf("0.75"), mpmath.mpf(1), mpmath.mpf(n)
    e_n = nm / (nm + 1) + (a + b) * (b**nm - a**nm) - (2 * nm / (nm + 1)) * (b ** (nm + 1) - a ** (nm + 1))
    assert float(C.bon_win_rate(qmap, n)) == pytest.approx(float(e_n), abs=1e-12)
    assert float(C.bon_kl(n, "tie:0.5:0.6")) == pytest.approx(float(mpmath.log(nm) - (nm - 1) / nm), abs=1e-9)
    # a top tie band at the same huge 1/beta: the tilt is (to rounding) uniform on the band, KL = -log(width)
    tie = QuantileMap.parse("tie:0.999:1")
    assert float(C.tilt_kl(beta, tie)) == pytest.approx(C.max_kl(tie), abs=1e-12)
    assert float(C.tilt_win_rate(tie, beta)) == pytest.approx(0.9995, abs=1e-12)


# ------------------------------------------------------------------------------------------------ ties
@FAST
@given(perm_maps(kinds=("inc", "dec", "tie", "noise"), min_k=2), st.floats(2.0, 1000.0))
def test_bon_kl_bounded_by_the_no_tie_value_and_strictly_below_with_ties(qmap, n):
    bound = math.log(n) - (n - 1) / n
    kl = float(C.bon_kl(n, qmap))
    assert kl <= bound + 1e-12
    # strict with ties, visibly so once the tied bands carry non-negligible best-of-n mass
    tied_mass = sum(p.v1**n - p.v0**n for p in qmap.pieces if p.kind == "tie")
    if tied_mass > 1e-6:
        assert kl < bound - 1e-12


@pytest.mark.parametrize("spec", ["tie:0.9:1", "tie:0.2:0.6", "tie:0:1"])
def test_tied_band_kl_by_hand(spec):
    # the whole tied band gets b^n - a^n spread uniformly: KL = sum over pieces of int g log g
    a, b = (float(x) for x in spec.split(":")[1:])
    n = 5.0
    d = b**n - a**n
    untied_low = math.log(n) * a**n + (n - 1) * ((a**n * math.log(a) if a > 0 else 0.0) - a**n / n)
    untied_high = math.log(n) * (1 - b**n) + (n - 1) * (0.0 - (b**n * math.log(b) if b > 0 else 0.0) - (1 - b**n) / n)
    expected = untied_low + d * math.log(d / (b - a)) + untied_high
    assert float(C.bon_kl(n, spec)) == pytest.approx(expected, abs=1e-12)


def test_tie_band_tilt_density_is_constant_on_the_band():
    qmap = QuantileMap.parse("tie:0.6:0.9")
    v = np.array([0.6, 0.7, 0.85, 0.9 - 1e-9])
    dens = C.tilt_density(v, 0.1, qmap)
    assert np.ptp(dens) < 1e-12
    grid = np.linspace(0, 1, 200_001)  # the density jumps at the band's edges: trapezoid error ~ grid step
    assert np.trapezoid(C.tilt_density(grid, 0.1, qmap), grid) == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------- docs/theory.md section 2
@FAST
@given(st.integers(0, 19), st.integers(1, 20), st.floats(1.0, 300.0))
def test_reverse_band_bon_formula(i, width, n):
    a = i / 20
    b = min(1.0, a + width / 20)
    expected = n / (n + 1) + (a + b) * (b**n - a**n) - (2 * n / (n + 1)) * (b ** (n + 1) - a ** (n + 1))
    assert float(C.bon_win_rate(f"reverse:{a:g}:{b:g}", n)) == pytest.approx(expected, abs=1e-12)


@FAST
@given(st.integers(0, 19), st.integers(1, 20), st.floats(1.0, 300.0), st.sampled_from(["noise", "tie"]))
def test_uninformative_band_bon_formula(i, width, n, kind):
    a = i / 20
    b = min(1.0, a + width / 20)
    expected = (n / (n + 1)) * (1 - b ** (n + 1) + a ** (n + 1)) + ((a + b) / 2) * (b**n - a**n)
    assert float(C.bon_win_rate(f"{kind}:{a:g}:{b:g}", n)) == pytest.approx(expected, abs=1e-12)


def test_perfect_proxy_bon_and_limits():
    n = np.arange(1, 50, dtype=float)
    assert np.allclose(C.bon_win_rate(None, n), n / (n + 1), atol=1e-15)
    big = 1e6
    assert float(C.bon_win_rate("top-wrong:0.1", big)) == pytest.approx(0.9, abs=1e-5)  # declines to 1 - eps
    assert float(C.bon_win_rate("noise:0.9:1", big)) == pytest.approx(0.95, abs=1e-5)  # rises to 1 - eps/2
    assert float(C.bon_win_rate("worst-wrong:0.5", big)) == pytest.approx(1.0, abs=1e-5)


@st.composite
def monotone_h_maps(draw):
    k = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(["inc", "noise", "tie"]), min_size=k, max_size=k))
    return QuantileMap.from_permutation(list(range(k)), kinds)


@FAST
@given(monotone_h_maps())
def test_non_decreasing_h_never_gives_a_declining_curve(qmap):
    grid = np.linspace(0, 1, 2001)
    assert np.all(np.diff(qmap.h(grid)) >= -1e-15)  # the premise
    t = np.geomspace(1e-3, 1e5, 300)
    assert np.all(np.diff(C.tilt_win_rate(qmap, 1.0 / t)) >= -1e-12)
    n = np.unique(np.geomspace(1, 1e5, 300).round())
    assert np.all(np.diff(C.bon_win_rate(qmap, n)) >= -1e-12)


@FAST
@given(st.integers(2, 8), st.data(), st.floats(1.0, 200.0))
def test_error_confined_to_bottom_band_moves_bon_by_at_most_c_pow_n(k_total, data, n):
    k = data.draw(st.integers(1, k_total - 1))  # the error lives in the bottom c = k/K
    perm = data.draw(st.permutations(list(range(k)))) + list(range(k, k_total))
    kinds = data.draw(st.lists(st.sampled_from(["inc", "dec", "tie", "noise"]), min_size=k, max_size=k))
    wrong = QuantileMap.from_permutation(perm, kinds + ["inc"] * (k_total - k))
    c = k / k_total
    v = np.linspace(0, c, 4001)
    sup = np.max(np.abs(wrong.h(v) - v))
    moved = abs(float(C.bon_win_rate(wrong, n)) - n / (n + 1))
    assert moved <= c**n * sup + 1e-12


# ------------------------------------------------------------------------------------------ KL budgets
@FAST
@given(st.floats(1e-10, 12.0), st.sampled_from([None, "top-wrong:0.25", "tie:0.5:0.9", "tie:0.99:1+reverse:0:0.2"]))
def test_beta_for_kl_round_trip(kl, spec):
    if spec is not None and kl >= C.max_kl(spec):
        return
    beta = float(C.beta_for_kl(kl, spec))
    assert float(C.tilt_kl(beta, spec)) == pytest.approx(kl, rel=1e-10, abs=1e-13)


@FAST
@given(st.floats(0.0, 12.0), st.sampled_from([None, "tie:0.5:0.9", "tie:0.99:1"]))
def test_n_for_kl_is_the_largest_n_within_budget(kl, spec):
    if spec is not None and kl >= C.max_kl(spec):
        return
    n = int(C.n_for_kl(kl, spec))
    assert n >= 1
    assert float(C.bon_kl(n, spec)) <= kl + 1e-12
    assert float(C.bon_kl(n + 1, spec)) > kl


def test_kl_budget_round_trip_exact_values():
    assert np.all(C.n_for_kl(C.bon_kl(np.arange(1, 40)), None) == np.arange(1, 40))
    assert np.isinf(C.beta_for_kl(0.0))
    assert C.beta_for_kl(np.array([0.0, 1.0, 2.0])).shape == (3,)


@pytest.mark.parametrize("fn", [C.beta_for_kl, C.n_for_kl])
@pytest.mark.parametrize("bad,needle", [(-0.5, ">= 0"), (float("nan"), ">= 0"), (float("inf"), ">= 0")])
def test_impossible_kl_budgets_give_clear_errors(fn, bad, needle):
    with pytest.raises(C.KLBudgetError, match=needle):
        fn(bad)


@pytest.mark.parametrize("fn", [C.beta_for_kl, C.n_for_kl])
def test_astronomical_budgets_are_refused_not_garbled(fn):
    with pytest.raises(C.KLBudgetError, match="needs"):
        fn(900.0)


@pytest.mark.parametrize("fn", [C.beta_for_kl, C.n_for_kl])
def test_kl_above_a_top_tie_cap_is_refused(fn):
    qmap = QuantileMap.parse("tie:0.9:1")
    cap = C.max_kl(qmap)
    assert cap == pytest.approx(-math.log(0.1))
    assert float(C.tilt_kl(0.01, qmap)) < cap and float(C.bon_kl(30, qmap)) < cap
    assert float(C.tilt_kl(1e-5, qmap)) == pytest.approx(cap, abs=1e-9)  # approached, never passed
    with pytest.raises(C.KLBudgetError, match="not reachable.*tie:0.9:1"):
        fn(cap + 0.1, qmap)
    fn(cap - 0.1, qmap)  # just below the cap is fine


def test_bad_inputs():
    with pytest.raises(SpecError, match="'revers'"):
        C.tilt_win_rate("revers:0:1", 1.0)
    with pytest.raises(ValueError, match="beta"):
        C.tilt_win_rate(None, 0.0)
    with pytest.raises(ValueError, match="n must"):
        C.bon_win_rate(None, 0.5)
    with pytest.raises(ValueError, match="tile"):
        C.tilt_win_rate([(0.0, 0.5, 0.0, 1.0, False)], 1.0)
    with pytest.raises(ValueError, match="procedure"):
        C.curve(None, 1.0, 5, "ppo")


# ------------------------------------------------------------------------------------ anchors, frontier
def test_theory_md_anchors():
    assert float(C.tilt_win_rate(None, C.beta_for_kl(1.0))) == pytest.approx(0.865, abs=5e-4)
    assert float(C.tilt_win_rate(None, C.beta_for_kl(2.0))) == pytest.approx(0.950, abs=5e-4)
    kl = np.linspace(0, 8, 801)
    top25 = C.tilt_win_rate("top-wrong:0.25", C.beta_for_kl(kl))
    assert top25.max() == pytest.approx(0.81, abs=5e-3)
    assert 1.2 < kl[np.argmax(top25)] < 1.6
    assert top25[-1] == pytest.approx(0.75, abs=1e-3) and top25[-1] < top25.max() - 0.05
    worst90 = C.tilt_win_rate("worst-wrong:0.9", C.beta_for_kl(kl))
    correct = C.tilt_win_rate(None, C.beta_for_kl(kl))
    assert worst90[1:60].min() < 0.5  # dips below 1/2 at small KL ...
    assert abs(worst90[-1] - correct[-1]) < 1e-6  # ... then reaches the correct curve


def test_densities_integrate_to_one():
    v = np.linspace(0, 1, 400_001)
    for beta in (10.0, 0.3, 0.02):
        assert np.trapezoid(C.tilt_density(v, beta), v) == pytest.approx(1.0, abs=1e-6)
    for n in (1.0, 3.0, 20.0):
        assert np.trapezoid(C.bon_density(v, n), v) == pytest.approx(1.0, abs=1e-6)


def test_bon_sits_near_the_frontier_and_below_it():
    n = np.array([2, 4, 8, 16, 64, 1024], dtype=float)
    gap = C.bon_frontier_gap(n)
    assert np.all(gap > 0)
    assert np.all(gap[n >= 8] < 1e-3)  # BoNBoN (Gui et al. 2024)
    assert gap[0] > 1e-3  # and the claim is not vacuous for small n


@FAST
@given(spec_maps(), st.floats(0.01, 6.0))
def test_no_proxy_beats_the_frontier(qmap, kl):
    if kl >= C.max_kl(qmap):
        return
    frontier = float(C.frontier_win_rate(kl))
    assert float(C.tilt_win_rate(qmap, C.beta_for_kl(kl, qmap))) <= frontier + 1e-10
    n = int(C.n_for_kl(kl, qmap))
    assert float(C.bon_win_rate(qmap, n)) <= frontier + 1e-10


def test_curve_shapes():
    res = C.curve("top-wrong:0.25", 4.0, 41)
    assert res["kl"].shape == res["win_rate"].shape == res["beta"].shape == (41,)
    assert np.allclose(res["kl"], np.linspace(0, 4, 41), atol=1e-9)
    bon = C.curve("top-wrong:0.25", 4.0, 41, "bon")
    assert np.all(np.diff(bon["n"]) > 0) and bon["n"][0] == 1 and np.all(bon["kl"] <= 4.0)


def test_stacked_maps_agree_with_one_at_a_time():
    maps = ["identity", "top-wrong:0.25", "reverse:0:0.1+tie:0.9:1", "sink:0.3", "noise:0.2:0.4+reverse:0.6:1"]
    stacked = C.stack_pieces([QuantileMap.parse(m) for m in maps])
    beta = np.array([[np.inf, 1.0, 1e-4]] * len(maps))
    n = np.array([[1.0, 7.0, 1e4]] * len(maps))
    tilt = C.stacked_stats(stacked, beta=beta)
    bon = C.stacked_stats(stacked, n=n)
    for i, m in enumerate(maps):
        assert np.allclose(tilt["win_rate"][i], C.tilt_win_rate(m, beta[i]), atol=1e-14, rtol=0)
        assert np.allclose(tilt["kl"][i], C.tilt_kl(beta[i], m), atol=1e-12, rtol=0)
        assert np.allclose(bon["win_rate"][i], C.bon_win_rate(m, n[i]), atol=1e-14, rtol=0)
        assert np.allclose(bon["kl"][i], C.bon_kl(n[i], m), atol=1e-12, rtol=0)
