"""The triage text task: rendering is exact, text rubrics equal the world's rubrics, refinement runs on text."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.refine import RefineConfig, refine
from rewards.verify import RuleVerifier
from rft.tasks import triage as T
from sim import rubric_world as rw

WORLD = rw.make_world(jax.random.key(3), rw.WorldConfig(n_prompts=16, n_diverse=4))
CASES = T.make_cases(16, 3)
V = RuleVerifier()
SIMV = rw.SimVerifier(WORLD, rw.VerifierConfig.perfect())


def test_property_names_match_the_world():
    assert tuple(p.name for p in rw.PROPERTIES) == T.PROPERTY_NAMES
    assert tuple(rw.SIGN.tolist()) == tuple(T.SIGN.tolist())


def test_condition_phrases_are_distinct():
    for c in T.CONDITIONS:
        fields = [
            c.symptom,
            c.diagnosis,
            c.treatment,
            c.urgency,
            c.test,
            c.differential,
            c.modification,
            c.unsafe,
            *c.distractors,
        ]
        for i, a in enumerate(fields):
            for j, b in enumerate(fields):
                if i != j:
                    assert a.lower() not in b.lower(), (c.name, a, b)


@settings(max_examples=150, deadline=None)
@given(p=st.integers(0, 15), x=st.lists(st.integers(0, 1), min_size=T.M, max_size=T.M), seed=st.integers(0, 2**32 - 1))
def test_render_detect_and_rubrics_are_exact(p, x, seed):
    case = CASES[p]
    text = T.render(case, x, np.random.default_rng(seed))
    assert T.detect(case, text).tolist() == x
    xs = np.array(x)[None]
    gold = T.rubric_to_text(WORLD.gold_rubrics[p], case)
    assert gold.score(V.verify("", text, gold)) == pytest.approx(WORLD.gold(xs, [p])[0], abs=1e-12)
    for sim_rubric in (WORLD.initial_rubrics[p], WORLD.gold_rubrics[p]):
        text_rubric = T.rubric_to_text(sim_rubric, case)
        assert T.rubric_to_sim(text_rubric) == sim_rubric
        assert [c.text for c in text_rubric.criteria] == [c.text for c in sim_rubric.criteria]
        np.testing.assert_array_equal(
            V.verify("", text, text_rubric), SIMV.verify(WORLD.prompts[p], tuple(x), sim_rubric)
        )


def test_union_check_with_regex_part():
    case = CASES[0]
    k_hdr, k_pad = T.PROPERTY_NAMES.index("markdown_headers"), T.PROPERTY_NAMES.index("padding")
    spec = T.union_check([k_hdr, k_pad], case)
    from rewards.rubric import Criterion, Rubric

    rub = Rubric((Criterion("x", 1, spec),))
    rng = np.random.default_rng(0)
    for bits in [(0, 0), (1, 0), (0, 1), (1, 1)]:
        x = [0] * T.M
        x[k_hdr], x[k_pad] = bits
        assert V.verify("", T.render(case, x, rng), rub)[0] == int(any(bits))


def test_refinement_on_text_matches_refinement_on_properties():
    """The same SimProposer and loop, once on property tuples (SimVerifier, perfect) and once on rendered text
    (RuleVerifier). Ties among the top responses are broken by content hash, which differs between a text and
    a tuple, so compare the prompts whose chosen pair is the same: there the new rubrics must be identical."""
    props = WORLD.sample("great", jax.random.key(9), 4)
    rng = np.random.default_rng(1)
    prompts_t = [c.prompt for c in CASES]
    pools_t = [[T.render(CASES[p], props[p, j], rng) for j in range(4)] for p in range(16)]
    pools_s = [[tuple(int(v) for v in props[p, j]) for j in range(4)] for p in range(16)]
    cfg = RefineConfig(rounds=1)
    sim_prop = rw.make_proposer(WORLD)
    res_t = refine(
        prompts_t,
        [T.rubric_to_text(r, c) for r, c in zip(WORLD.initial_rubrics, CASES, strict=True)],
        pools_t,
        V,
        T.TextProposer(sim_prop, WORLD, CASES),
        cfg,
    )
    res_s = refine(list(WORLD.prompts), list(WORLD.initial_rubrics), pools_s, SIMV, sim_prop, cfg)
    same = 0
    for it_t, it_s in zip(res_t.iterations, res_s.iterations, strict=True):
        assert it_t.scores == pytest.approx(it_s.scores)  # text scores == property scores, every response
        if it_t.chosen == it_s.chosen:
            same += 1
            assert T.rubric_to_sim(it_t.new_rubric) == it_s.new_rubric
    assert same >= 4  # not vacuous: many prompts pick the same pair (7 of 16 in this world)
    assert res_t.status_counts()["accepted"] > 0
