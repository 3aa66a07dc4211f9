"""Bradley-Terry models and GRPO training in the rubric world."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sim.bt import BTConfig, bt_pairs, bt_proxy, fit_bt_many
from sim.rubric_train import (
    ProxyArrays,
    TrainConfig,
    _hash_uniform,
    _kl,
    linear_proxy,
    rubric_proxy,
    stack_proxies,
    train,
    train_many,
)
from sim.rubric_world import PROPERTIES, SIGN, Halo, SimVerifier, WorldConfig, make_world

train = jax.jit(train, static_argnames=("config",))
STYLE = [k for k, p in enumerate(PROPERTIES) if p.kind == "style"]
SMALL = TrainConfig(steps=40, group_size=8)


@pytest.fixture(scope="module")
def world():
    return make_world(jax.random.key(21), WorldConfig(n_prompts=16, n_diverse=4))


def _stack(*pairs):
    return type(pairs[0])(*(np.stack(z) for z in zip(*pairs, strict=True)))


def test_bt_on_artifact_confounded_pairs_weights_the_artifact(world):
    cfg = BTConfig.perfect_perception(pairs_per_prompt=32, steps=300)
    on, off = bt_pairs(world, jax.random.key(0), "on", cfg), bt_pairs(world, jax.random.key(0), "off", cfg)
    w_on, w_off = np.asarray(fit_bt_many(_stack(on, off), world.n_prompts, cfg))
    # the great model's house style is confounded with quality in off-policy pairs only
    assert w_off[:, STYLE].mean() > 0.2
    assert w_off[:, STYLE].mean() > w_on[:, STYLE].mean() + 0.15
    # both get the sign of the common facts and of the penalties right on average (tail facts are too rare
    # in base responses for the on-policy model to be sure of them)
    common = np.array([p.kind in ("fact", "penalty") for p in PROPERTIES])
    for w in (w_on, w_off):
        assert np.all(np.sign(w.mean(0)[common]) == SIGN[common])
    # zero-weight padding pairs change nothing (pair sets of different sizes share one vmapped fit)
    both = bt_pairs(world, jax.random.key(3), "both", cfg)
    w_pad, _ = np.asarray(fit_bt_many(_stack(on.padded(both.y.shape[0]), both), world.n_prompts, cfg))
    np.testing.assert_allclose(w_pad, w_on, atol=1e-3)
    px = bt_proxy(w_on, BTConfig())
    assert px.fpr.shape == (world.n_prompts, len(PROPERTIES)) and np.allclose(px.fpr, px.fnr)
    assert px.fpr.max() > 0 and np.all(px.fpr[:, STYLE] == 0)


def test_training_increases_the_proxy_and_starts_at_the_base(world):
    px = rubric_proxy(world.initial_rubrics, SimVerifier(world), 12)
    log = train(jax.random.key(0), world.base_logits(), px, world.gold_weights, SMALL)
    proxy = np.asarray(log.proxy)
    assert proxy[-10:].mean() > proxy[:5].mean() + 0.05
    assert float(log.kl[0]) == pytest.approx(0.0, abs=1e-6)
    # the logged gold at step 0 is the base model's exact expected gold
    assert float(log.gold[0]) == pytest.approx(world.gold_expected(world.probs("base")).mean(), abs=1e-5)


def test_vmap_over_seeds_equals_a_loop(world):
    v = SimVerifier(world)
    pxs = [rubric_proxy(world.initial_rubrics, v, 12), linear_proxy(world.gold_weights * SIGN, 13)]
    st = stack_proxies(pxs)
    keys = jax.random.split(jax.random.key(5), 4).reshape(2, 2)
    base = np.stack([world.base_logits()] * 2)
    gw = np.stack([world.gold_weights] * 2)
    many = train_many(keys, base, ProxyArrays(*(np.stack([a, a]) for a in st)), gw, SMALL)
    for s in range(2):
        for k in range(2):
            one = train(keys[s, k], world.base_logits(), ProxyArrays(*(a[k] for a in st)), world.gold_weights, SMALL)
            np.testing.assert_allclose(np.asarray(many.gold[s, k]), np.asarray(one.gold), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(
                np.asarray(many.final_logits[s, k]), np.asarray(one.final_logits), rtol=1e-4, atol=1e-5
            )
    # different keys give different runs
    assert not np.allclose(np.asarray(many.gold[0, 0]), np.asarray(many.gold[1, 0]))


def test_exact_kl_and_hash_uniform():
    th = jnp.array([[0.3, -2.0, 1.5]])
    th0 = jnp.array([[-0.1, -1.0, 0.0]])
    p, q = jax.nn.sigmoid(th), jax.nn.sigmoid(th0)
    want = (p * jnp.log(p / q) + (1 - p) * jnp.log((1 - p) / (1 - q))).sum(-1)
    np.testing.assert_allclose(np.asarray(_kl(th, th0)), np.asarray(want), rtol=1e-5)
    u = np.asarray(_hash_uniform(jnp.array([7, 9], jnp.uint32), (200_000,)))
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    u2 = np.asarray(_hash_uniform(jnp.array([7, 10], jnp.uint32), (200_000,)))
    assert abs(np.corrcoef(u, u2)[0, 1]) < 0.01


def test_perceive_applies_flips_and_the_style_halo_at_their_rates():
    from sim.bt import STYLE_MASK, perceive

    cfg = BTConfig(halo=Halo(0.5))
    n = 40_000
    x = np.zeros((n, len(PROPERTIES)), np.int8)
    x[n // 2 :, STYLE[0]] = 1  # the second half carries one style artifact
    fact = next(k for k, p in enumerate(PROPERTIES) if p.kind == "fact")
    pen = next(k for k, p in enumerate(PROPERTIES) if p.kind == "penalty")
    x[::2, fact] = 1
    seen = perceive(x, np.random.default_rng(0), cfg)
    assert seen.dtype == x.dtype and seen.shape == x.shape
    f, h = cfg.flip_rates()[fact], cfg.halo.strength
    plain, styled = slice(0, n // 2), slice(n // 2, n)

    def rate(rows, k, present):
        sel = x[rows, k] == present
        return seen[rows][sel, k].mean(), sel.sum()

    for rows, k, present, expect in [
        (plain, fact, 0, f),
        (plain, fact, 1, 1 - f),
        (styled, fact, 0, f + (1 - f) * h),
        (styled, fact, 1, 1 - f * (1 - h)),
        (styled, pen, 0, cfg.flip_rates()[pen]),
    ]:  # the halo spares penalties
        got, m = rate(rows, k, present)
        assert abs(got - expect) < 4 * np.sqrt(expect * (1 - expect) / m) + 1e-9, (k, present, got, expect)
    np.testing.assert_array_equal(seen[:, STYLE_MASK], x[:, STYLE_MASK])  # style is seen exactly
    off = perceive(x, np.random.default_rng(0), BTConfig.perfect_perception())
    np.testing.assert_array_equal(off, x)


def test_proxy_reward_with_halo_matches_its_exact_expectation(world):
    from sim.rubric_train import _proxy_reward

    w = np.random.default_rng(1).normal(size=(world.n_prompts, len(PROPERTIES))).astype(np.float32)
    cfg = BTConfig(halo=Halo(0.6))
    px = ProxyArrays(*(jnp.asarray(a, jnp.float32) for a in bt_proxy(w, cfg)))
    x = np.zeros((world.n_prompts, 2, len(PROPERTIES)), np.float32)
    x[:, 1, STYLE[1]] = 1.0  # response 1 is styled, response 0 is not; both state nothing else
    n = 4000
    u = _hash_uniform(jnp.array([3, 4], jnp.uint32), (n, world.n_prompts, 2, len(PROPERTIES)))
    r = np.asarray(jax.vmap(lambda uu: _proxy_reward(uu, jnp.asarray(x), px))(u)).mean(0)  # (P, 2)
    f, h = cfg.flip_rates(), cfg.halo.property_rates()
    p_yes = np.where(
        x > 0,
        1 - f * np.where(x[..., STYLE].any(-1, keepdims=True), 1 - h, 1),
        f + (1 - f) * np.where(x[..., STYLE].any(-1, keepdims=True), h, 0),
    )
    exact = (p_yes * w[:, None, :]).sum(-1)
    np.testing.assert_allclose(r, exact, atol=0.12)
    assert np.abs(r - exact).mean() < 0.03
    # the default rubric verifier has no halo
    rp = rubric_proxy(world.initial_rubrics, SimVerifier(world), 12)
    assert not rp.halo.any()


def test_verifier_halo_acts_on_precise_content_criteria_of_styled_responses(world):
    from rewards.rubric import YES, Criterion, Rubric
    from sim.rubric_world import PROPERTY_INDEX, VerifierConfig, precise_criterion

    halo = Halo(0.6, trigger=("signature_phrase",))
    tail, sig = PROPERTY_INDEX["decisive_test"], PROPERTY_INDEX["signature_phrase"]
    rub = Rubric(
        (
            precise_criterion(tail, 2.0, ()),
            Criterion(
                "Considers alternatives",
                1.0,
                {"any_of": [PROPERTY_INDEX["dangerous_differential"], PROPERTY_INDEX["hedged_diagnosis"]]},
            ),
            Criterion("Avoids unsafe advice", 1.0, {"property": PROPERTY_INDEX["unsafe_advice"], "negate": True}),
        )
    )
    v0, vh = SimVerifier(world), SimVerifier(world, VerifierConfig(halo=halo))
    np.testing.assert_array_equal(vh.halo_rates(rub), [0.6, 0.0, 0.0])  # coarse and "avoids" criteria: none
    # 2048 distinct responses without the tail fact; the other 11 properties enumerate them
    free = [k for k in range(len(PROPERTIES)) if k not in (tail, sig)]
    bits = (np.arange(2048)[:, None] >> np.arange(len(free))[None, :]) & 1
    x = np.zeros((2048, len(PROPERTIES)), np.int8)
    x[:, free] = bits
    fpr = v0.rates(rub)[0][0]
    for styled in (0, 1):
        xs = x.copy()
        xs[:, sig] = styled
        yes0 = v0.verdicts(np.zeros(len(xs), int), xs, rub)[:, 0] == YES
        yes = vh.verdicts(np.zeros(len(xs), int), xs, rub)[:, 0] == YES
        want = fpr + (1 - fpr) * 0.6 if styled else fpr
        assert abs(yes.mean() - want) < 4 * np.sqrt(want * (1 - want) / len(xs)) + 1e-9, (styled, yes.mean(), want)
        assert np.all(yes0 <= yes)  # the halo only adds YES (same hash uniforms)
        if not styled:
            np.testing.assert_array_equal(yes, yes0)
        # the vectorized paths agree with verdicts()
        sc = vh.scores([rub], xs[None])[0]
        many = np.array([vh.verify_many([(world.prompts[0], tuple(r), rub)])[0] for r in xs[:64]])
        np.testing.assert_array_equal(many, vh.verdicts(np.zeros(64, int), xs[:64], rub))
        np.testing.assert_allclose(sc, np.array([rub.score(v) for v in vh.verdicts(np.zeros(len(xs), int), xs, rub)]))
    px = rubric_proxy([rub] * world.n_prompts, vh, 4)
    np.testing.assert_allclose(px.halo[0], [0.6, 0.0, 0.0, 0.0])
    assert px.halo_trigger[0, sig] == 1 and px.halo_trigger[0].sum() == 1


def test_a_reward_that_pays_for_style_costs_gold_under_the_halo(world):
    """With the halo, learning the artifact blinds the reward to the facts: less gold than without it."""
    w = np.where(SIGN[None, :] != 0, world.gold_weights * SIGN[None, :], 0.0).astype(np.float32)
    w[:, STYLE] = 3.0
    cfg = TrainConfig(steps=150, group_size=8)
    golds = []
    for halo in (0.0, 0.7):
        log = train(
            jax.random.key(5), world.base_logits(), bt_proxy(w, BTConfig(halo=Halo(halo))), world.gold_weights, cfg
        )
        golds.append(float(np.asarray(log.gold)[-20:].mean()))
        assert np.asarray(log.probs)[-1, STYLE].max() > 0.8  # an artifact is learned either way
    assert golds[1] < golds[0] - 0.01, golds
