"""sim.rubric_world.pools: one pool sampler per pool mode, always exactly ``pool_size`` responses."""

import jax
import numpy as np
import pytest

from rewards.refine import POOL_MODES
from sim.rubric_world import M, WorldConfig, make_world, pool_lists, sample_pool


@pytest.fixture(scope="module", params=[3, 16, 20], ids=lambda d: f"{d}-diverse")
def world(request):
    return make_world(jax.random.key(5), WorldConfig(n_prompts=6, n_diverse=request.param))


@pytest.mark.parametrize("mode", list(POOL_MODES))
def test_every_mode_returns_exactly_pool_size(world, mode):
    x = sample_pool(world, mode, jax.random.key(1))
    assert x.shape == (world.n_prompts, POOL_MODES[mode].pool_size, M)
    assert set(np.unique(x)) <= {0, 1}
    np.testing.assert_array_equal(x, sample_pool(world, mode, jax.random.key(1)))  # a pure function of the key


def test_diverse_pool_tops_up_with_folded_rounds_when_models_are_few():
    world = make_world(jax.random.key(5), WorldConfig(n_prompts=6, n_diverse=3))
    key = jax.random.key(1)
    x = sample_pool(world, "4-great-diverse-pairs", key)
    # 16 responses from 3 models: rounds r = 0..5 drawn under fold_in(key, r), cut to 16
    rounds = [world.sample_diverse(jax.random.fold_in(key, r)) for r in range(6)]
    np.testing.assert_array_equal(x, np.concatenate(rounds, axis=1)[:, :16])


def test_diverse_pool_with_enough_models_is_one_draw():
    world = make_world(jax.random.key(5), WorldConfig(n_prompts=6, n_diverse=20))
    key = jax.random.key(1)
    np.testing.assert_array_equal(sample_pool(world, "4-great-diverse-pairs", key), world.sample_diverse(key)[:, :16])


def test_pool_lists_and_unknown_mode(world):
    lists = pool_lists(sample_pool(world, "1-good-pair", jax.random.key(0)))
    assert len(lists) == world.n_prompts and all(len(p) == 2 and isinstance(p[0], tuple) for p in lists)
    with pytest.raises(ValueError, match="unknown pool mode"):
        sample_pool(world, "8-pairs", jax.random.key(0))
