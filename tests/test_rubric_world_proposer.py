"""The simulated proposer, alone and inside rewards.refine."""

import jax
import numpy as np
import pytest

from rewards.diagnostics import pair_accuracy
from rewards.refine import Proposer, RefineConfig, refine
from rewards.rubric import Criterion, Rubric
from sim.rubric_world import (
    PROPERTY_INDEX,
    M,
    ProposerConfig,
    SimProposer,
    SimVerifier,
    VerifierConfig,
    WorldConfig,
    criterion_props,
    make_world,
    pool_lists,
    sample_pool,
)

EXACT = ProposerConfig(misjudge=0.0, notice=1.0, weight_noise=0.0)


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


def test_adds_a_criterion_separating_a_tail_fact(world):
    sp = SimProposer(world, EXACT)
    assert isinstance(sp, Proposer)
    rub = Rubric(tuple(c for c in world.initial_rubrics[0].criteria if criterion_props(c)[0] != (4,)))
    a, b = _resp(decisive_test=1), _resp(decisive_test=0)
    perfect = SimVerifier(world, VerifierConfig.perfect())
    p = world.prompts[0]
    assert rub.score(perfect.verify(p, a, rub)) == rub.score(perfect.verify(p, b, rub))  # tied before
    new = sp.propose(p, rub, a, b)
    assert ((PROPERTY_INDEX["decisive_test"],), False) in _props(new)
    assert new.score(perfect.verify(p, a, new)) > new.score(perfect.verify(p, b, new))  # separated after
    # it cannot notice what the pair shares: both lack the other tail facts, so none is added for them
    assert ((PROPERTY_INDEX["risk_modifier"],), False) not in _props(new) - _props(rub)


def test_splits_a_coarse_criterion_and_removes_an_artifact_criterion(world):
    sp = SimProposer(world, EXACT)
    hedge, diff = PROPERTY_INDEX["hedged_diagnosis"], PROPERTY_INDEX["dangerous_differential"]
    head = PROPERTY_INDEX["markdown_headers"]
    rub = Rubric(
        (
            Criterion("States the correct primary diagnosis", 2, {"property": 1}),
            Criterion("Considers alternative diagnoses", 2, {"any_of": [diff, hedge]}),
            Criterion("Is well organized with clear section headers", 1, {"property": head}),
        )
    )
    # the worse response hedges and has headers; the better one does neither
    better, worse = _resp(), _resp(hedged_diagnosis=1, markdown_headers=1)
    new = sp.propose(world.prompts[1], rub, worse, better)
    props = _props(new)
    assert ((hedge,), True) in props and ((diff,), False) in props  # split the gold way round
    assert not any(len(k) > 1 for k, _neg in props)  # the coarse criterion is gone
    assert ((head,), False) not in props  # the artifact criterion is removed


def test_corrects_a_criterion_that_pays_for_a_penalty(world):
    sp = SimProposer(world, EXACT)
    pad = PROPERTY_INDEX["padding"]
    rub = Rubric(
        (
            Criterion("States the correct primary diagnosis", 2, {"property": 1}),
            Criterion("Gives a thorough, detailed answer", 2, {"property": pad}),
        )
    )
    new = sp.propose(world.prompts[2], rub, _resp(padding=1), _resp())
    assert ((pad,), True) in _props(new) and ((pad,), False) not in _props(new)


def test_proposer_is_a_function_of_its_inputs_and_sometimes_misjudges(world):
    rub = world.initial_rubrics[3]
    a, b = _resp(decisive_test=1, signature_phrase=0), _resp(decisive_test=0, signature_phrase=1)
    sp = SimProposer(world, ProposerConfig(misjudge=0.5, notice=1.0))
    assert sp.propose(world.prompts[3], rub, a, b) == SimProposer(world, sp.config).propose(world.prompts[3], rub, a, b)
    outs = {SimProposer(world, sp.config, seed=s).propose(world.prompts[3], rub, a, b) for s in range(40)}
    artifact = [o for o in outs if ((PROPERTY_INDEX["signature_phrase"],), False) in _props(o)]
    assert artifact and len(artifact) < len(outs)  # a misjudging proposer rewards the wrong winner's artifact


def _high_accuracy(world, rubrics, verifier, key):
    xa, xb = world.sample("great", key, 64), world.sample("great", jax.random.fold_in(key, 1), 64)
    acc = pair_accuracy(
        verifier.scores(rubrics, xa).ravel(),
        verifier.scores(rubrics, xb).ravel(),
        world.gold(xa).ravel(),
        world.gold(xb).ravel(),
    )
    return acc.acc_ties_wrong


def test_refinement_through_rewards_refine_improves_high_reward_accuracy(world):
    v = SimVerifier(world)
    sp = SimProposer(world)
    pools = pool_lists(sample_pool(world, "4-great-diverse-pairs", jax.random.key(2)))
    cfg = RefineConfig.from_pool_mode("4-great-diverse-pairs")
    res = refine(world.prompts, world.initial_rubrics, pools, v, sp, cfg)
    assert res.status_counts()["accepted"] > world.n_prompts
    before = _high_accuracy(world, world.initial_rubrics, v, jax.random.key(9))
    after = _high_accuracy(world, res.rubrics, v, jax.random.key(9))
    assert after > before + 0.05


def test_refinement_with_sim_components_resumes_exactly(world, tmp_path):
    v, sp = SimVerifier(world), SimProposer(world)
    pools = pool_lists(sample_pool(world, "4-great-pairs", jax.random.key(4)))
    cfg = RefineConfig.from_pool_mode("4-great-pairs")
    full = refine(world.prompts, world.initial_rubrics, pools, v, sp, cfg)
    log = tmp_path / "log.jsonl"
    refine(world.prompts, world.initial_rubrics, pools, v, sp, cfg, log_path=log)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:20])  # killed mid-write
    resumed = refine(
        world.prompts, world.initial_rubrics, pools, SimVerifier(world), SimProposer(world), cfg, log_path=log
    )
    assert resumed.n_resumed > 0
    assert resumed.rubrics == full.rubrics
    np.testing.assert_equal(len(resumed.iterations), len(full.iterations))
