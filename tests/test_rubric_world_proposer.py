"""The simulated proposer, alone and inside rewards.refine."""

import jax
import numpy as np
import pytest

from rewards.diagnostics import pair_accuracy
from rewards.refine import RefineConfig, refine
from rewards.rubric import Criterion, Rubric
from sim.rubric_world import (
    PROPERTY_INDEX,
    UNKNOWN_SIGN,
    JudgeConfig,
    M,
    PairJudge,
    ProposerBeliefs,
    ProposerConfig,
    SimProposer,
    SimVerifier,
    VerifierConfig,
    WorldConfig,
    criterion_props,
    draw_beliefs,
    make_proposer,
    make_world,
    pool_lists,
    sample_pool,
    sign_errors,
)

ORACLE = ProposerConfig(knowledge=1.0, notice=1.0, weight_noise=0.0)
BLIND = ProposerConfig(knowledge=0.5, credulity=0.0, notice=1.0)


@pytest.fixture(scope="module")
def world():
    return make_world(jax.random.key(11), WorldConfig(n_prompts=16, n_diverse=8))


def _resp(**on) -> tuple[int, ...]:
    x = [0] * M
    for name in ("key_symptom", "diagnosis", "first_line_treatment", "urgency"):
        x[PROPERTY_INDEX[name]] = 1
    for name, v in on.items():
        x[PROPERTY_INDEX[name]] = v
    return tuple(x)


def _props(rubric):
    return {criterion_props(c) for c in rubric.criteria}


def _oracle(world):
    return SimProposer(draw_beliefs(world, ORACLE, 0), ORACLE)


def test_adds_a_criterion_separating_a_tail_fact(world):
    sp = _oracle(world)
    rub = Rubric(tuple(c for c in world.initial_rubrics[0].criteria if 4 not in criterion_props(c)[0]))
    a, b = _resp(decisive_test=1), _resp(decisive_test=0)
    perfect = SimVerifier(world, VerifierConfig.perfect())
    p = world.prompts[0]
    assert rub.score(perfect.verify(p, a, rub)) == rub.score(perfect.verify(p, b, rub))  # tied before
    new = sp.propose_judged(p, rub, a, b, a_wins=True)
    assert ((PROPERTY_INDEX["decisive_test"],), False) in _props(new)
    assert new.score(perfect.verify(p, a, new)) > new.score(perfect.verify(p, b, new))  # separated after
    # it cannot notice what the pair shares: both lack the other tail facts, so none is added for them
    assert ((PROPERTY_INDEX["risk_modifier"],), False) not in _props(new) - _props(rub)


def test_oracle_splits_a_coarse_criterion_and_removes_an_artifact_criterion(world):
    sp = _oracle(world)
    hedge, diff = PROPERTY_INDEX["hedged_diagnosis"], PROPERTY_INDEX["dangerous_differential"]
    head = PROPERTY_INDEX["markdown_headers"]
    rub = Rubric(
        (
            Criterion("States the correct primary diagnosis", 2, {"property": 1}),
            Criterion("Considers alternative diagnoses", 2, {"any_of": [diff, hedge]}),
            Criterion("Is well organized with clear section headers", 1, {"property": head}),
        )
    )
    # the worse response hedges and has headers; the better one does neither; the verdict does not matter
    better, worse = _resp(), _resp(hedged_diagnosis=1, markdown_headers=1)
    for verdict in (False, True):
        props = _props(sp.propose_judged(world.prompts[1], rub, worse, better, a_wins=verdict))
        assert ((hedge,), True) in props and ((diff,), False) in props  # split the gold way round
        assert not any(len(k) > 1 for k, _neg in props)  # the coarse criterion is gone
        assert ((head,), False) not in props  # the artifact criterion is removed


def test_oracle_corrects_a_criterion_that_pays_for_a_penalty(world):
    pad = PROPERTY_INDEX["padding"]
    rub = Rubric(
        (
            Criterion("States the correct primary diagnosis", 2, {"property": 1}),
            Criterion("Gives a thorough, detailed answer", 2, {"property": pad}),
        )
    )
    new = _oracle(world).propose_judged(world.prompts[2], rub, _resp(padding=1), _resp(), a_wins=True)
    assert ((pad,), True) in _props(new) and ((pad,), False) not in _props(new)


def _beliefs(world, sign: int) -> ProposerBeliefs:
    P = world.n_prompts
    return ProposerBeliefs(world.prompts, np.full((P, M), sign, np.int8), np.full((P, M), np.nan))


def test_blind_proposer_infers_signs_from_the_verdict_and_a_wrong_verdict_writes_a_wrong_sign(world):
    sp = SimProposer(_beliefs(world, UNKNOWN_SIGN), BLIND)
    rub = Rubric((Criterion("States the correct primary diagnosis", 2, {"property": 1}),))
    a, b = _resp(decisive_test=1), _resp(decisive_test=0)
    test = PROPERTY_INDEX["decisive_test"]
    right = sp.propose_judged(world.prompts[0], rub, a, b, a_wins=True)
    wrong = sp.propose_judged(world.prompts[0], rub, a, b, a_wins=False)
    assert ((test,), False) in _props(right) and sign_errors(right) == (0, 0)
    assert ((test,), True) in _props(wrong) and sign_errors(wrong)[0] == 1  # "avoids ordering the decisive test"
    # a style difference that the verdict happens to favour is taken for quality
    styled = sp.propose_judged(world.prompts[0], rub, _resp(markdown_headers=1), _resp(), a_wins=True)
    assert sign_errors(styled) == (0, 1)


def test_credulous_proposer_takes_an_artifact_for_quality_whatever_the_verdict(world):
    cfg = ProposerConfig(knowledge=0.5, credulity=1.0, notice=1.0)
    sp = SimProposer(draw_beliefs(world, cfg, 3), cfg)
    rub = Rubric((Criterion("States the correct primary diagnosis", 2, {"property": 1}),))
    new = sp.propose_judged(world.prompts[0], rub, _resp(), _resp(signature_phrase=1), a_wins=True)
    assert ((PROPERTY_INDEX["signature_phrase"],), False) in _props(new)


def test_beliefs_grow_with_knowledge(world):
    known = [(draw_beliefs(world, ProposerConfig(knowledge=k), 5).sign != UNKNOWN_SIGN) for k in (0.5, 0.75, 1.0)]
    assert not known[0][:, :10].any() and known[2].all()
    assert (known[1] <= known[2]).all() and 0.3 < known[1][:, :10].mean() < 0.7  # a superset, about half


def test_proposer_is_a_function_of_its_inputs(world):
    rub = world.initial_rubrics[3]
    a, b = _resp(decisive_test=1, signature_phrase=0), _resp(decisive_test=0, signature_phrase=1)
    jp = make_proposer(world, ProposerConfig(knowledge=0.5), JudgeConfig(0.5))
    again = make_proposer(world, ProposerConfig(knowledge=0.5), JudgeConfig(0.5))
    assert jp.propose(world.prompts[3], rub, a, b) == again.propose(world.prompts[3], rub, a, b)
    outs = {
        make_proposer(world, jp.proposer.config, JudgeConfig(0.5), seed=s).propose(world.prompts[3], rub, a, b)
        for s in range(20)
    }
    assert len(outs) > 1  # the judge's verdicts and the proposer's guesses vary with the seed


def test_judge_is_order_free_and_errs_at_its_rate(world):
    judge = PairJudge(world, JudgeConfig(0.2), seed=1)
    pools = sample_pool(world, "4-great-pairs", jax.random.key(3))
    right = n = 0
    for p in range(world.n_prompts):
        for i in range(0, 16, 2):
            x, y = tuple(pools[p, i].tolist()), tuple(pools[p, i + 1].tolist())
            first = judge.prefers_first(world.prompts[p], x, y)
            assert first != judge.prefers_first(world.prompts[p], y, x) or x == y
            gx, gy = world.gold(np.array([x, y]), [p, p])
            if gx != gy:
                right += first == (gx > gy)
                n += 1
    assert n > 50 and abs(right / n - 0.8) < 0.1


def _high_accuracy(world, rubrics, verifier, key):
    xa, xb = world.sample("great", key, 64), world.sample("great", jax.random.fold_in(key, 1), 64)
    acc = pair_accuracy(
        verifier.scores(rubrics, xa).ravel(),
        verifier.scores(rubrics, xb).ravel(),
        world.gold(xa).ravel(),
        world.gold(xb).ravel(),
    )
    return acc.acc_ties_wrong


def _refined(world, proposer):
    pools = pool_lists(sample_pool(world, "4-great-diverse-pairs", jax.random.key(2)))
    cfg = RefineConfig.from_pool_mode("4-great-diverse-pairs")
    return refine(world.prompts, world.initial_rubrics, pools, SimVerifier(world), proposer, cfg)


def test_refinement_with_an_oracle_improves_high_reward_accuracy(world):
    res = _refined(world, make_proposer(world, ORACLE, JudgeConfig(0.15)))
    assert isinstance(res, object) and res.status_counts()["accepted"] > world.n_prompts
    v = SimVerifier(world)
    before = _high_accuracy(world, world.initial_rubrics, v, jax.random.key(9))
    after = _high_accuracy(world, res.rubrics, v, jax.random.key(9))
    assert after > before + 0.05


def test_refinement_with_a_wrong_sign_proposer_lowers_accuracy_and_the_sign_errors_show_it(world):
    """A blind proposer shown a judge that is always wrong writes wrong-sign criteria; accuracy drops."""
    res = _refined(world, make_proposer(world, BLIND, JudgeConfig(1.0)))
    v = SimVerifier(world)
    before = _high_accuracy(world, world.initial_rubrics, v, jax.random.key(9))
    after = _high_accuracy(world, res.rubrics, v, jax.random.key(9))
    assert after < before - 0.05
    wrong_before = sum(sign_errors(r)[0] for r in world.initial_rubrics)
    wrong_after = sum(sign_errors(r)[0] for r in res.rubrics)
    assert wrong_after > wrong_before + world.n_prompts  # more than one new wrong-sign criterion per prompt


def test_refinement_with_sim_components_resumes_exactly(world, tmp_path):
    v, sp = SimVerifier(world), make_proposer(world)
    pools = pool_lists(sample_pool(world, "4-great-pairs", jax.random.key(4)))
    cfg = RefineConfig.from_pool_mode("4-great-pairs")
    full = refine(world.prompts, world.initial_rubrics, pools, v, sp, cfg)
    log = tmp_path / "log.jsonl"
    refine(world.prompts, world.initial_rubrics, pools, v, sp, cfg, log_path=log)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:20])  # killed mid-write
    resumed = refine(
        world.prompts, world.initial_rubrics, pools, SimVerifier(world), make_proposer(world), cfg, log_path=log
    )
    assert resumed.n_resumed > 0
    assert resumed.rubrics == full.rubrics
    np.testing.assert_equal(len(resumed.iterations), len(full.iterations))
