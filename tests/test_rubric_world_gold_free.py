"""Nothing that proposes, writes or fits rubrics / reward models can reach the hidden gold (issue 13).

Two checks: (1) the object graph of a proposer holds no world, judge, gold rubric or gold-weight array; (2) with
a world whose gold raises on any access, the writer, the proposer (shown precomputed verdicts) and the
refinement loop with the simulated verifier still run, and the Bradley-Terry fit runs on its pairs alone.
"""

import dataclasses
import inspect

import jax
import numpy as np
import pytest

from rewards.refine import RefineConfig, refine
from rewards.rubric import Rubric
from sim.bt import BTConfig, BTPairs, bt_pairs, fit_bt
from sim.rubric_world import (
    JudgeConfig,
    PairJudge,
    ProposerConfig,
    RubricWorld,
    SimProposer,
    SimVerifier,
    WorldConfig,
    WriterDraws,
    draw_beliefs,
    make_proposer,
    make_world,
    pool_lists,
    sample_pool,
    write_initial_rubric,
)


class Poison:
    """Stands in for gold: any use raises."""

    def _boom(self, *a, **k):
        raise AssertionError("gold was read")

    __getattr__ = __getitem__ = __array__ = __iter__ = __len__ = __float__ = _boom


@pytest.fixture(scope="module")
def world():
    return make_world(jax.random.key(5), WorldConfig(n_prompts=12, n_diverse=6))


def _reachable(obj, seen=None, depth=0):
    """Every object reachable from ``obj`` through attributes and containers (not into modules or classes)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 12 or inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj):
        return
    seen.add(id(obj))
    yield obj
    children: list = []
    if isinstance(obj, dict):
        children = list(obj.keys()) + list(obj.values())
    elif isinstance(obj, list | tuple | set | frozenset):
        children = list(obj)
    elif dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
        children = list(vars(obj).values())
    for c in children:
        yield from _reachable(c, seen, depth + 1)


def test_the_proposer_holds_nothing_that_holds_gold(world):
    for cfg in (ProposerConfig(knowledge=0.5), ProposerConfig(knowledge=0.8), ProposerConfig(knowledge=1.0)):
        sp = make_proposer(world, cfg).proposer
        assert isinstance(sp, SimProposer)
        for o in _reachable(sp):
            assert not isinstance(o, RubricWorld | PairJudge), type(o)
            assert not (isinstance(o, Rubric) and o in world.gold_rubrics)
            if isinstance(o, np.ndarray) and o.shape == world.gold_weights.shape and o.dtype.kind == "f":
                assert not np.array_equal(o, world.gold_weights)
    with pytest.raises(TypeError, match="ProposerBeliefs"):
        SimProposer(world)  # a world is refused outright


def _poisoned(world):
    """The same world with its gold replaced by :class:`Poison` (prompts, models, rubrics kept)."""
    return dataclasses.replace(world, gold_weights=Poison(), gold_rubrics=Poison())


def test_writer_proposer_verifier_and_refinement_run_without_gold(world):
    rng = np.random.default_rng(0)
    draws = WriterDraws.draw(world.config, rng)
    believed = rng.integers(1, 4, size=(world.n_prompts, 13)).astype(float)  # any beliefs: none are gold
    rubs = tuple(write_initial_rubric(believed[p], rng, draws) for p in range(world.n_prompts))
    cfg = ProposerConfig(knowledge=0.75)
    sp = SimProposer(draw_beliefs(world, cfg, 1), cfg, 1)  # the environment draws the beliefs (it may read gold)
    judge = PairJudge(world, JudgeConfig(0.15), 1)
    pools = pool_lists(sample_pool(world, "4-great-pairs", jax.random.key(1)))
    # the verdicts on every pair the loop may show, computed BEFORE gold is hidden
    verdicts = {
        (world.prompts[p], a, b): judge.prefers_first(world.prompts[p], a, b)
        for p, pool in enumerate(pools)
        for a in pool
        for b in pool
    }

    class ShownVerdicts:
        name = "shown"

        def propose(self, prompt, rubric, a, b):
            return sp.propose_judged(prompt, rubric, a, b, verdicts[(prompt, a, b)])

    blind_world = _poisoned(world)
    with pytest.raises(AssertionError, match="gold was read"):
        blind_world.gold(np.zeros((1, 13), np.int8), [0])  # the poison works
    res = refine(
        blind_world.prompts,
        rubs,
        pools,
        SimVerifier(blind_world),
        ShownVerdicts(),
        RefineConfig.from_pool_mode("4-great-pairs"),
    )
    assert res.status_counts()["accepted"] > 0 and res.n_failures == 0


def test_bradley_terry_fit_sees_only_its_pairs(world):
    assert list(inspect.signature(fit_bt).parameters) == ["pairs", "n_prompts", "config"]
    pairs = bt_pairs(world, jax.random.key(2), "off", BTConfig(pairs_per_prompt=4))  # the labelling environment
    assert isinstance(pairs, BTPairs) and set(pairs._fields) == {"xa", "xb", "prompt", "y", "w"}
    w = np.asarray(fit_bt(pairs, world.n_prompts, BTConfig(pairs_per_prompt=4, steps=20)))
    assert w.shape == (world.n_prompts, 13) and np.isfinite(w).all()
