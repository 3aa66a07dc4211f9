"""The rubric world: determinism, gold, the simulated verifier."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.rubric import UNKNOWN, YES, Criterion, Rubric
from rewards.stats import spearman
from rewards.verify import Verifier
from sim.rubric_world import (
    KINDS,
    PROPERTIES,
    PROPERTY_INDEX,
    SIGN,
    WRITER_CRITERIA,
    M,
    SimVerifier,
    VerifierConfig,
    WorldConfig,
    criterion_props,
    make_world,
)

CFG = WorldConfig(n_prompts=8, n_diverse=4)


@pytest.fixture(scope="module")
def world():
    return make_world(jax.random.key(3), CFG)


def test_world_is_a_pure_function_of_the_key(world):
    again = make_world(jax.random.key(3), CFG)
    np.testing.assert_array_equal(world.gold_weights, again.gold_weights)
    np.testing.assert_array_equal(world.model_probs, again.model_probs)
    assert world.initial_rubrics == again.initial_rubrics
    assert world.gold_rubrics == again.gold_rubrics
    k = jax.random.key(1)
    np.testing.assert_array_equal(world.sample("great", k, 5), again.sample("great", k, 5))
    other = make_world(jax.random.key(4), CFG)
    assert not np.array_equal(world.model_probs, other.model_probs)


def test_properties_are_data_a_renderer_can_read():
    assert len(PROPERTIES) == M
    assert {p.kind for p in PROPERTIES} == set(KINDS)
    for p in PROPERTIES:
        assert p.name and p.description and p.criterion
    assert all(
        SIGN[i] == (1 if p.kind in ("fact", "tail_fact") else -1 if p.kind == "penalty" else 0)
        for i, p in enumerate(PROPERTIES)
    )


def test_gold_and_initial_rubrics_use_sim_checks(world):
    for gold, init in zip(world.gold_rubrics, world.initial_rubrics, strict=True):
        for c in gold.criteria + init.criteria:
            assert criterion_props(c) is not None
        # gold covers exactly the quality properties, penalties as "avoids ..." (negate)
        props = {criterion_props(c) for c in gold.criteria}
        assert props == {((k,), SIGN[k] < 0) for k in range(M) if SIGN[k] != 0}
        # the writer almost never names tail facts; it never pays for a property twice
        covered = [k for c in init.criteria for k in criterion_props(c)[0]]
        assert len(covered) == len(set(covered))


def test_models_are_ordered_by_skill(world):
    key = jax.random.key(0)
    g = {
        m: world.gold(world.sample(m, jax.random.fold_in(key, i), 400)).mean()
        for i, m in enumerate(("base", "good", "great"))
    }
    assert g["base"] < g["good"] < g["great"]


def test_perfect_verifier_equals_gold(world):
    v = SimVerifier(world, VerifierConfig.perfect())
    x = world.sample("good", jax.random.key(5), 20)
    for p, rub in enumerate(world.gold_rubrics):
        got = rub.score(v.verdicts(np.full(20, p), x[p], rub))
        np.testing.assert_allclose(got, world.gold(x[p], np.full(20, p)), atol=1e-12)
    np.testing.assert_allclose(v.scores(world.gold_rubrics, x), world.gold(x), atol=1e-12)


def test_verifier_is_deterministic_and_batched_paths_agree(world):
    v = SimVerifier(world)
    assert isinstance(v, Verifier)
    x = world.sample("great", jax.random.key(6), 6)
    items = [
        (world.prompts[p], tuple(int(b) for b in x[p, i]), world.initial_rubrics[(p + i) % 8])
        for p in range(8)
        for i in range(6)
    ]
    many = v.verify_many(items)
    for (pr, r, rub), got in zip(items, many, strict=True):
        np.testing.assert_array_equal(got, v.verify(pr, r, rub))
        np.testing.assert_array_equal(got, SimVerifier(world).verify(pr, r, rub))
    s = v.scores(world.initial_rubrics, x)
    for p, rub in enumerate(world.initial_rubrics):
        np.testing.assert_allclose(s[p], rub.score(v.verdicts(np.full(6, p), x[p], rub)))


def test_verifier_error_rates_match_config(world):
    cfg = VerifierConfig(fpr=tuple((k, 0.2) for k in KINDS), fnr=tuple((k, 0.1) for k in KINDS), jitter=0.0)
    v = SimVerifier(world, cfg)
    rub = Rubric((Criterion("fact", 1.0, {"property": 0}),))
    assert v.error_rates(rub.criteria[0]) == (0.2, 0.1)
    # verdicts are deterministic per (seed, prompt, response, criterion): fresh noise needs fresh seeds
    rates = []
    for seed in range(300):
        vs = SimVerifier(world, cfg, seed=seed)
        got = vs.verdicts(np.arange(8), np.tile([[1] + [0] * (M - 1), [0] * M], (4, 1)), rub)[:, 0]
        rates.append((np.mean(got[0::2] != YES), np.mean(got[1::2] == YES)))
    fnr, fpr = np.mean(rates, axis=0)
    assert abs(fnr - 0.1) < 0.03 and abs(fpr - 0.2) < 0.03


def test_unusable_check_gives_unknown(world):
    v = SimVerifier(world)
    rub = Rubric((Criterion("mentions CT", 1.0, {"any": ["CT"]}), Criterion("fact", 1.0, {"property": 1})))
    out = v.verify(world.prompts[0], (0,) * M, rub)
    assert out[0] == UNKNOWN and out[1] in (0, 1)
    assert np.isnan(rub.score(out))


@settings(max_examples=40, deadline=None)
@given(bits=st.lists(st.integers(0, 1), min_size=M, max_size=M), k=st.integers(0, M - 1), p=st.integers(0, 7))
def test_gold_moves_the_right_way(world, bits, k, p):
    x = np.array(bits)
    on, off = x.copy(), x.copy()
    on[k], off[k] = 1, 0
    g_on, g_off = world.gold(on, p), world.gold(off, p)
    assert 0.0 <= g_on <= 1.0 and 0.0 <= g_off <= 1.0
    assert np.sign(g_on - g_off) == SIGN[k]


def test_writer_flaws_are_drawn_per_world_from_the_stated_ranges():
    cfg = WorldConfig(n_prompts=48, n_diverse=2)
    worlds = [make_world(jax.random.key(s), cfg) for s in range(12)]
    tails = np.array([w.writer_draws.tail_prob for w in worlds])
    hedges = np.array([w.writer_draws.hedge_rate for w in worlds])
    assert tails.min() >= cfg.writer_tail_prob[0] and tails.max() <= cfg.writer_tail_prob[1] and tails.std() > 0.03
    assert hedges.min() >= 10 ** cfg.base_exploit_rate[0] and hedges.max() <= 10 ** cfg.base_exploit_rate[1]
    # each world's base model hedges at its drawn rate (up to the per-prompt logit noise)
    base = np.array([w.probs("base")[:, PROPERTY_INDEX["hedged_diagnosis"]].mean() for w in worlds])
    assert spearman(base, hedges) > 0.8
    # a world's initial rubrics follow its drawn rates: how often the writer pays for headers tracks its rate
    rate = np.array([w.writer_draws.criterion_prob["organized"] for w in worlds])
    freq = np.array(
        [np.mean([any("organized" in c.tags for c in r.criteria) for r in w.initial_rubrics]) for w in worlds]
    )
    assert spearman(rate, freq) > 0.8 and np.abs(rate - freq).max() < 0.25


def test_the_tuned_world_places_the_old_flaws():
    d = make_world(jax.random.key(0), WorldConfig.tuned(n_prompts=8, n_diverse=2)).writer_draws
    assert d.tail_prob == 0.05 and d.fact_prob == 0.9 and d.hedge_rate == 0.03 and d.padding_rate == 0.02
    assert d.criterion_prob == {wc.name: wc.prob for wc in WRITER_CRITERIA}
    assert d.criterion_prob["considers_alternatives"] == 0.9 and d.criterion_prob["workup"] == 0.0
