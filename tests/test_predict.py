"""Properties of the over-optimization predictor (rewards.predict) and of estimate_h, on synthetic quantile maps
where the truth is known: u ~ Uniform(0, 1) per sample is the gold quantile, v = f(u) the proxy."""

import numpy as np
import pytest

from rewards.diagnostics import estimate_h
from rewards.predict import best_of_n_curves, group_codes, predict, tilt_curves
from rewards.quantile import QuantileMap
from theory import continuous as TC


def _samples(spec: str, prompts: int, m: int, seed: int):
    """(prompt ids, proxy v, gold u), each (prompts * m,)."""
    rng = np.random.default_rng(seed)
    q = QuantileMap.parse(spec)
    u = rng.uniform(size=(prompts, m))
    v = q.f(u, rng.uniform(size=u.shape))
    return np.repeat(np.arange(prompts), m), v.ravel(), u.ravel()


def _true_h(spec: str, edges) -> np.ndarray:
    """Bin averages of h(v) = E[u | v] for a rearrangement (no noise): u = f^-1(v) on a fine grid."""
    q = QuantileMap.parse(spec)
    v = (np.arange(200_000) + 0.5) / 200_000
    u = q.f_inv(v)
    b = np.searchsorted(edges, v, side="right") - 1
    return np.bincount(b, u) / np.bincount(b)


EDGES = np.array([0.0, 0.5, 0.8, 0.9, 0.95, 1.0])


def test_estimate_h_converges_to_the_true_h():
    truth = _true_h("top-wrong:0.1", EDGES)
    errs = []
    for m in (10, 100, 1000):
        ids, v, u = _samples("top-wrong:0.1", 100, m, seed=m)
        errs.append(np.max(np.abs(estimate_h(v, u, EDGES, groups=ids).h - truth)))
    assert errs[2] < errs[1] < errs[0]
    assert errs[2] < 0.01


def test_estimate_h_bands_cover_the_truth_at_about_their_rate():
    # noise:0.5:1: above u = 0.5 the proxy is independent of gold, so h = 0.75 on every bin above v = 0.8.
    # Measured limits (not asserted here): where h jumps at a bin edge (v = 0.5 here) the within-prompt
    # quantiles misplace samples across the edge, a bias of order 1 / sqrt(samples per prompt) that the
    # bootstrap does not cover; and where u = v exactly (a noiseless map) the band has ~0 width.
    hits = []
    for rep in range(30):
        ids, v, u = _samples("noise:0.5:1", 30, 40, seed=1000 + rep)
        h = estimate_h(v, u, EDGES, groups=ids, rng=np.random.default_rng(rep), n_boot=200)
        hits.append((h.lo[2:] <= 0.75) & (0.75 <= h.hi[2:]))
    coverage = np.mean(hits)
    assert 0.85 <= coverage <= 1.0, coverage  # nominal 0.95 (90 intervals: 0.85 is ~4 SE below it)


@pytest.mark.parametrize("spec", ["identity", "worst-wrong:0.3", "noise:0.9:1", "reverse:0:0.5"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_monotone_h_never_predicts_a_peak(spec, seed):
    ids, v, u = _samples(spec, 32, 256, seed)
    pred = predict(ids, v, u, rng=np.random.default_rng(seed), n_boot=100)
    assert not pred["tilt"].peak
    assert not pred["best_of_n"].peak


@pytest.mark.parametrize("c", [0.1, 0.2, 0.3])
def test_a_top_band_reversal_predicts_an_interior_peak_and_a_plateau_near_1_minus_c(c):
    ids, v, u = _samples(f"top-wrong:{c}", 64, 1024, seed=int(100 * c))
    t = predict(ids, v, u, rng=np.random.default_rng(0), n_boot=100)["tilt"]
    assert t.peak and t.peak_kl < t.max_kl
    theory_peak = TC.curve(QuantileMap.parse(f"top-wrong:{c}"), 8.0, 801, "tilt")
    assert t.peak_gold == pytest.approx(theory_peak["win_rate"].max(), abs=0.01)
    end = t.curve.gold[np.flatnonzero(t.curve.resolved).max()]
    assert end < t.peak_gold
    assert abs(end - (1 - c)) < 0.03  # the plateau the tilt approaches as KL grows


def test_the_sampled_tilt_matches_theory_within_its_band_where_the_ess_is_large():
    # pointwise bands: one data set misses over a run of neighbouring temperatures together, so coverage is
    # counted over independent data sets at three temperatures where the median ESS is large
    spec = "top-wrong:0.2"
    q = QuantileMap.parse(spec)
    hits, kl_err = [], []
    for rep in range(20):
        ids, v, u = _samples(spec, 32, 256, seed=500 + rep)
        c = predict(ids, v, u, rng=np.random.default_rng(rep), n_boot=200)["tilt"].curve
        idx = [int(np.argmin(np.abs(c.param - lam))) for lam in (1.0, 4.0, 10.0)]
        assert np.all(c.ess_median[idx] >= 50)
        truth = TC.tilt_win_rate(q, 1.0 / c.param[idx])
        hits.append((c.gold_lo[idx] <= truth) & (truth <= c.gold_hi[idx]))
        kl_truth = TC.tilt_kl(1.0 / c.param[idx], q)
        kl_err.append(np.abs(c.kl[idx] - kl_truth) / kl_truth)
    assert np.mean(hits) >= 0.85, np.mean(hits)  # nominal 0.95 over 60 intervals
    assert np.max(kl_err) < 0.1


def test_best_of_n_is_exact_on_a_hand_computed_prompt():
    # one prompt, proxy [1, 2, 2, 3], gold [0, 1, 3, 5]: best of 2 picks 3 with prob 1 - (3/4)^2 = 7/16, the
    # tie group {2, 2} with prob (3/4)^2 - (1/4)^2 = 8/16 (each member half of it), 1 with prob 1/16
    codes, P = group_codes(np.zeros(4))
    c = best_of_n_curves([1.0, 2.0, 2.0, 3.0], [0.0, 1.0, 3.0, 5.0], codes, P, [1, 2])
    assert c["gold"][0, 0] == pytest.approx(9 / 4)
    w = np.array([1 / 16, 4 / 16, 4 / 16, 7 / 16])
    assert c["gold"][1, 0] == pytest.approx(w @ [0, 1, 3, 5])
    assert c["kl"][1, 0] == pytest.approx(np.sum(w * np.log(4 * w)))
    assert c["ess"][1, 0] == pytest.approx(1 / np.sum(w**2))


def test_tilt_weights_ignore_missing_gold_and_the_proxy_scale():
    ids, v, u = _samples("top-wrong:0.1", 8, 64, seed=3)
    codes, P = group_codes(ids)
    a = tilt_curves(v, u, codes, P, [0.0, 5.0])
    b = tilt_curves(10 * v + 3, u, codes, P, [0.0, 0.5])  # same tilt: lam * r changes only by a constant
    assert np.allclose(a["gold"], b["gold"]) and np.allclose(a["kl"], b["kl"])
    g = u.copy()
    g[::3] = np.nan
    c = tilt_curves(v, g, codes, P, [0.0])
    assert np.allclose(c["gold"][0], [np.nanmean(g[ids == p]) for p in range(P)])


def test_the_prediction_says_no_peak_when_the_samples_cannot_reach_it():
    # top-wrong:0.05 peaks near KL 3 (theory); 16 samples per prompt resolve far less than that
    ids, v, u = _samples("top-wrong:0.05", 64, 16, seed=5)
    t = predict(ids, v, u, rng=np.random.default_rng(0), n_boot=100)["tilt"]
    assert t.max_kl < 2.0 and not t.peak


def test_constant_or_nonfinite_proxy_is_refused():
    with pytest.raises(ValueError, match="constant"):
        predict([0, 0, 1, 1], [1.0, 1.0, 2.0, 2.0], [0.0, 1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        predict([0, 0, 1, 1], [1.0, np.nan, 2.0, 3.0], [0.0, 1.0, 0.0, 1.0])
