"""The rubric-world trainer's optimizer options (sim.rubric_train.TrainConfig.optimizer)."""

import dataclasses

import jax
import numpy as np
import pytest

from sim.rubric_train import TrainConfig, rubric_proxy, train
from sim.rubric_world import SimVerifier, WorldConfig, all_responses, factorized_logprobs, make_world

train = jax.jit(train, static_argnames=("config",))
ONE = TrainConfig(steps=1, group_size=8)


@pytest.fixture(scope="module")
def setup():
    world = make_world(jax.random.key(8), WorldConfig(n_prompts=8, n_diverse=2))
    return world, rubric_proxy(world.initial_rubrics, SimVerifier(world), 12)


def _step(setup, config):
    world, px = setup
    log = train(jax.random.key(3), world.base_logits(), px, world.gold_weights, config)
    return np.asarray(log.final_logits, np.float64) - world.base_logits()


def test_default_is_sgd_and_bad_names_fail():
    assert TrainConfig().optimizer == "sgd"
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="ng_damping"):
        TrainConfig(optimizer="natural", ng_damping=0.0)


def test_fisher_of_the_factorized_policy_is_diagonal_p_one_minus_p(setup):
    """The natural gradient divides by p (1 - p): that is the exact Fisher of the whole-response distribution."""
    world, _ = setup
    lg = world.base_logits()[:1]
    pmf = np.exp(factorized_logprobs(lg))[0]  # (R,)
    score = all_responses() - 1 / (1 + np.exp(-lg))  # d log pi(x) / d theta = x - p, (R, M)
    fisher = (score * pmf[:, None]).T @ score
    p = 1 / (1 + np.exp(-lg[0]))
    np.testing.assert_allclose(fisher, np.diag(p * (1 - p)), atol=1e-12)


def test_natural_gradient_step_is_the_sgd_step_divided_by_the_fisher(setup):
    world, _ = setup
    p0 = 1 / (1 + np.exp(-world.base_logits()))
    sgd = _step(setup, dataclasses.replace(ONE, lr=0.3))
    nat = _step(setup, dataclasses.replace(ONE, lr=0.3, optimizer="natural", ng_damping=0.01))
    # the same key draws the same group at the same initial policy, so the gradient is the same
    np.testing.assert_allclose(nat, sgd / (p0 * (1 - p0) + 0.01), rtol=2e-4, atol=5e-5)  # float32 logits
    assert np.abs(nat).max() > 0.05  # the comparison is not between two zero steps


def test_adam_first_step_is_lr_times_the_gradient_sign(setup):
    sgd = _step(setup, ONE)
    adam = _step(setup, dataclasses.replace(ONE, lr=0.05, optimizer="adam"))
    moved = np.abs(sgd) > 1e-5
    assert moved.sum() > 10
    # bias-corrected moments after one step: m = g, v = g^2, so the step is lr * g / |g|
    np.testing.assert_allclose(adam[moved], 0.05 * np.sign(sgd[moved]), rtol=1e-4)


def test_adam_and_natural_change_the_run_and_are_deterministic(setup):
    world, px = setup
    cfgs = {o: TrainConfig(steps=30, group_size=8, optimizer=o, lr=lr) for o, lr in [("sgd", 0.5), ("adam", 0.05)]}
    cfgs["natural"] = TrainConfig(steps=30, group_size=8, optimizer="natural", lr=0.05)
    runs = {o: train(jax.random.key(4), world.base_logits(), px, world.gold_weights, c) for o, c in cfgs.items()}
    for o, c in cfgs.items():
        again = train(jax.random.key(4), world.base_logits(), px, world.gold_weights, c)
        np.testing.assert_array_equal(np.asarray(again.gold), np.asarray(runs[o].gold))
    sgd = np.asarray(runs["sgd"].final_logits)
    for o in ("adam", "natural"):
        assert np.abs(np.asarray(runs[o].final_logits) - sgd).max() > 0.1, o
        assert float(runs[o].proxy[-5:].mean()) > float(runs[o].proxy[:5].mean())  # it still learns the proxy
