"""The best factorized policy per beta (sim.rubric_experiments.mean_field) against the exact tilt."""

import jax
import numpy as np
import pytest

from rewards.rubric import Rubric
from sim.rubric_experiments.mean_field import _coefficients, _score_and_grad, factorized_optimum
from sim.rubric_train import rubric_proxy
from sim.rubric_world import (
    Halo,
    SimVerifier,
    VerifierConfig,
    WorldConfig,
    all_responses,
    criterion_props,
    exact_tilt,
    factorized_logprobs,
    make_world,
    tilt_arrays,
)

BETAS = np.array([np.inf, 1.0, 0.2, 0.05, 0.02])


@pytest.fixture(scope="module")
def world():
    return make_world(jax.random.key(11), WorldConfig(n_prompts=6, n_diverse=2))


def test_closed_form_score_equals_enumeration(world):
    px = rubric_proxy(world.initial_rubrics, SimVerifier(world), 12)  # coarse OR and negated criteria
    assert any(len(criterion_props(c)[0]) > 1 for r in world.initial_rubrics for c in r.criteria)
    _, r, _ = tilt_arrays(world, px)
    q = np.random.default_rng(0).uniform(0.05, 0.95, (world.n_prompts, 13))
    pmf = np.exp(factorized_logprobs(np.log(q) - np.log1p(-q)))
    score, grad = _score_and_grad(q, _coefficients(px))
    np.testing.assert_allclose(score, (pmf * r).sum(1), atol=1e-9)
    # the gradient is the score's derivative in q_k (finite differences)
    dq = np.zeros_like(q)
    dq[:, 3] = 1e-6
    fd = (_score_and_grad(q + dq, _coefficients(px))[0] - score) / 1e-6
    np.testing.assert_allclose(grad[:, 3], fd, atol=1e-5)


def test_additive_proxy_factorized_optimum_is_the_tilt(world):
    """Without OR criteria the score is additive, so the tilt of a product base policy is itself a product."""
    precise = [Rubric(tuple(c for c in r.criteria if len(criterion_props(c)[0]) == 1)) for r in world.initial_rubrics]
    px = rubric_proxy(precise, SimVerifier(world), 12)
    tilt = exact_tilt(*tilt_arrays(world, px), BETAS)
    fact = factorized_optimum(world.base_logits(), px, world.gold_expected, BETAS)
    np.testing.assert_allclose(fact.kl, tilt.kl, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(fact.gold, tilt.gold, rtol=1e-6)
    np.testing.assert_allclose(fact.proxy, tilt.proxy, rtol=1e-6)
    assert fact.residual.max() < 1e-6


def test_the_tilt_is_at_least_as_good_as_the_factorized_optimum(world):
    px = rubric_proxy(world.initial_rubrics, SimVerifier(world), 12)
    tilt = exact_tilt(*tilt_arrays(world, px), BETAS)
    fact = factorized_optimum(world.base_logits(), px, world.gold_expected, BETAS)
    b = BETAS[1:]
    assert np.all(tilt.proxy[1:] - b * tilt.kl[1:] >= fact.proxy[1:] - b * fact.kl[1:] - 1e-9)
    # and strictly better somewhere: the OR criteria make the tilt correlate properties
    assert np.any(tilt.proxy[1:] - b * tilt.kl[1:] > fact.proxy[1:] - b * fact.kl[1:] + 1e-4)
    marg = np.exp(factorized_logprobs(world.base_logits())) @ all_responses()
    np.testing.assert_allclose(fact.probs[0], marg.mean(0), rtol=1e-9)


def test_a_halo_is_refused(world):
    px = rubric_proxy(world.initial_rubrics, SimVerifier(world, VerifierConfig(halo=Halo(0.3))), 12)
    with pytest.raises(ValueError, match="halo"):
        factorized_optimum(world.base_logits(), px, world.gold_expected, BETAS)
