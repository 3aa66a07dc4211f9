"""The exact tilt over all 2^M rubric-world responses (sim.rubric_world.exact)."""

import jax
import numpy as np
import pytest

from sim.rubric_train import _kl, rubric_proxy
from sim.rubric_world import (
    Halo,
    SimVerifier,
    VerifierConfig,
    WorldConfig,
    all_responses,
    beta_grid,
    exact_tilt,
    factorized_logprobs,
    make_world,
    proxy_scores,
    tilt_arrays,
)
from theory.bandit import evaluate, tilt_pmf


@pytest.fixture(scope="module")
def world():
    return make_world(jax.random.key(5), WorldConfig(n_prompts=6, n_diverse=2))


@pytest.fixture(scope="module")
def arrays(world):
    # a halo on the verifier so that the proxy is not linear in the properties (coarse OR criteria are too)
    ver = SimVerifier(world, VerifierConfig(halo=Halo(0.4)))
    return tilt_arrays(world, rubric_proxy(world.initial_rubrics, ver, 12))


def test_enumeration_equals_theory_finite_k_tilt(arrays):
    lp, r, g = arrays
    beta = np.array([np.inf, 1.0, 0.1, 0.02, 0.005])
    curve = exact_tilt(lp, r, g, beta)
    kl, gold, prox = [], [], []
    for p in range(lp.shape[0]):
        p0 = np.exp(lp[p])
        pmf = tilt_pmf(p0 / p0.sum(), r[p], beta)
        ev = evaluate(p0 / p0.sum(), g[p], pmf)
        kl.append(ev["kl"])
        gold.append(ev["expected_true"])
        prox.append((pmf * r[p]).sum(-1))
    np.testing.assert_allclose(curve.kl, np.mean(kl, 0), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(curve.gold, np.mean(gold, 0), rtol=1e-9)
    np.testing.assert_allclose(curve.proxy, np.mean(prox, 0), rtol=1e-9)


def test_kl_is_zero_at_the_base_and_grows_as_beta_falls(arrays, world):
    lp, r, g = arrays
    curve = exact_tilt(lp, r, g, beta_grid(1e-3, 10.0, 30))
    assert curve.kl[0] == 0.0
    assert curve.gold[0] == pytest.approx(world.gold_expected(world.probs("base")).mean(), rel=1e-9)
    # strictly increasing until the tilt has put all its mass on the proxy's argmax (then flat up to roundoff)
    moving = curve.beta > 0.02
    assert np.all(np.diff(curve.kl[moving]) > 0) and np.all(np.diff(curve.kl) > -1e-12) and curve.kl[-1] > 3.0
    # the tilt maximises proxy - beta KL, so its proxy rises with KL
    assert np.all(np.diff(curve.proxy[moving]) > 0) and np.all(np.diff(curve.proxy) > -1e-12)


def test_base_logprobs_are_the_factorized_policy(world):
    lg = world.base_logits()
    lp = factorized_logprobs(lg)
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, rtol=1e-10)
    x = all_responses()
    q = np.exp(lp) @ x  # marginals of the enumerated pmf
    np.testing.assert_allclose(q, world.probs("base"), rtol=1e-8)
    # sequence-level KL between two factorized policies = the trainer's per-property sum
    lg2 = lg + np.linspace(-1, 1, lg.size).reshape(lg.shape)
    lp2 = factorized_logprobs(lg2)
    seq_kl = (np.exp(lp2) * (lp2 - lp)).sum(1)
    np.testing.assert_allclose(seq_kl, np.asarray(_kl(lg2, lg)), rtol=2e-4)


def test_proxy_scores_match_the_mean_of_sampled_verdicts(world):
    """The expected score of a response is the mean of the verifier's verdict-weighted scores (halo included)."""
    ver = SimVerifier(world, VerifierConfig(halo=Halo(0.5)))
    px = rubric_proxy(world.initial_rubrics, ver, 12)
    x = all_responses()[[0, 1 << 10, (1 << 13) - 1, 0b1010110110101]]
    exact = proxy_scores(px, x)  # (P, 4)
    rng = np.random.default_rng(0)
    n = 20000
    u = rng.random((px.mask.shape[0], n, 4, px.mask.shape[1]))
    hit = (np.einsum("rm,pcm->prc", x.astype(float), px.mask) > 0.5) != (px.negate[:, None, :] > 0.5)
    styled = (x.astype(float) @ px.halo_trigger.T).T > 0.5  # (P, 4)
    h = np.where(styled[..., None], px.halo[:, None, :], 0.0)
    fpr, fnr = Halo.apply(px.fpr[:, None, :], px.fnr[:, None, :], h)
    yes = np.where(hit[:, None], u >= fnr[:, None], u < fpr[:, None])
    mc = (yes * px.weight[:, None, None, :]).sum(-1).mean(1) / px.norm[:, None]
    np.testing.assert_allclose(exact, mc, atol=0.01)


def test_memory_is_checked(monkeypatch, arrays):
    lp, r, g = arrays
    monkeypatch.setenv("CHASE_MAX_BYTES", str(10 * lp.size))
    with pytest.raises(ValueError, match="exact tilt.*CHASE_MAX_BYTES"):
        exact_tilt(lp, r, g, [1.0])


def test_bad_input_is_a_clear_error(arrays):
    lp, r, g = arrays
    with pytest.raises(ValueError, match="share one"):
        exact_tilt(lp, r[:, :5], g, [1.0])
    with pytest.raises(ValueError, match="beta"):
        exact_tilt(lp, r, g, [0.0])
    with pytest.raises(ValueError, match="finite"):
        exact_tilt(lp, np.where(r > 0.5, np.nan, r), g, [1.0])
