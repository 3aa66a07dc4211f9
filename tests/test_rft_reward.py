"""RubricReward / GoldReward / BTReward as TRL reward functions (no model needed)."""

import asyncio
import json
import math
import pickle

import numpy as np
import pytest

pytest.importorskip("torch")

from rewards.rubric import UNKNOWN, Criterion, Rubric  # noqa: E402
from rewards.verify import RuleVerifier  # noqa: E402
from rft.reward import (  # noqa: E402
    AsyncRubricReward,
    BTReward,
    GoldReward,
    RubricReward,
    completion_text,
    rubric_to_column,
)

RUB = Rubric(
    (
        Criterion("Names the diagnosis", 2, {"any": ["migraine"]}, ("prop:diagnosis",)),
        Criterion("Avoids unsafe advice", 3, {"any": ["double the dose"], "negate": True}, ("prop:unsafe",)),
        Criterion("Short", 1, {"max_words": 12}, ("len",)),
    )
)
# a criterion the rule verifier cannot check -> UNKNOWN -> the whole score is unscored
RUB_UNK = Rubric((*RUB.criteria, Criterion("Is empathetic", 1, None, ("empathy",))))

TEXTS = [
    "This is migraine.",
    "Double the dose now, it is probably nothing serious at all really.",
    "Migraine. Double the dose.",
]
EXPECTED = [1.0, 1 / 6, 3 / 6]


def _call(fn, texts, rubric=RUB, conversational=False, **kw):
    metrics = {}

    def log_metric(name, value):
        metrics.setdefault(name, []).append(value)

    prompts = ["Case: headache"] * len(texts)
    comps = list(texts)
    if conversational:
        prompts = [[{"role": "user", "content": p}] for p in prompts]
        comps = [[{"role": "assistant", "content": t}] for t in texts]
    out = fn(
        prompts=prompts,
        completions=comps,
        completion_ids=[[0]] * len(texts),
        rubric=[rubric_to_column(rubric)] * len(texts),
        gold_rubric=[rubric_to_column(RUB)] * len(texts),
        log_metric=log_metric,
        log_extra=lambda *a: None,
        **kw,
    )
    if asyncio.iscoroutine(out):
        out = asyncio.run(out)
    return out, metrics


@pytest.mark.parametrize("conversational", [False, True])
def test_scores_standard_and_conversational(conversational):
    out, metrics = _call(RubricReward(RuleVerifier(), name="proxy"), TEXTS, conversational=conversational)
    assert out == pytest.approx(EXPECTED)
    assert metrics["proxy/unscored"] == [0.0]
    assert metrics["proxy/pass/prop:diagnosis"] == [pytest.approx(2 / 3)]
    assert metrics["proxy/pass/prop:unsafe"] == [pytest.approx(1 / 3)]
    assert metrics["proxy/pass/len"] == [1.0]  # all three have <= 12 words


def test_unscored_is_none_never_zero():
    out, metrics = _call(RubricReward(RuleVerifier(), name="proxy"), TEXTS, rubric=RUB_UNK)
    assert out == [None, None, None]
    assert metrics["proxy/unscored"] == [3.0] and metrics["proxy/unscored_frac"] == [1.0]
    assert metrics["proxy/unknown_verdict_frac"] == [pytest.approx(3 / 12)]
    # unknown="skip" scores over the known verdicts instead
    out, _ = _call(RubricReward(RuleVerifier(), unknown="skip"), TEXTS, rubric=RUB_UNK)
    assert out == pytest.approx(EXPECTED)


def test_missing_completion_is_unscored():
    out, _ = _call(RubricReward(RuleVerifier()), [TEXTS[0], None])
    assert out[0] == pytest.approx(1.0) and out[1] is None


def test_monitor_logs_gold_without_changing_rewards():
    gold = GoldReward(RuleVerifier())
    out, metrics = _call(RubricReward(RuleVerifier(), name="proxy", monitors=(gold,)), TEXTS)
    assert out == pytest.approx(EXPECTED)
    assert metrics["gold/mean"] == [pytest.approx(np.mean(EXPECTED))]


def test_gold_reward_refuses_training_use():
    gold = GoldReward(RuleVerifier())
    with pytest.raises(RuntimeError, match="evaluation only"):
        _call(gold, TEXTS, trainer_state=object())
    assert gold.score(["p"] * 3, TEXTS, [rubric_to_column(RUB)] * 3) == pytest.approx(EXPECTED)


def test_picklable_and_named():
    r = RubricReward(RuleVerifier(), name="proxy_initial")
    _call(r, TEXTS)  # fills the parse cache
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.__name__ == "proxy_initial"
    assert _call(r2, TEXTS)[0] == pytest.approx(EXPECTED)


def test_async_matches_sync():
    out, metrics = _call(AsyncRubricReward(RuleVerifier(), name="proxy"), TEXTS)
    assert out == pytest.approx(EXPECTED) and metrics["proxy/unscored"] == [0.0]

    class AV(RuleVerifier):
        async def averify_many(self, items):
            await asyncio.sleep(0)
            return self.verify_many(items)

    assert _call(AsyncRubricReward(AV()), TEXTS)[0] == pytest.approx(EXPECTED)


def test_clear_errors():
    r = RubricReward(RuleVerifier(), rubric_column="rubric_v2")
    with pytest.raises(KeyError, match="rubric_v2"):
        _call(r, TEXTS)
    with pytest.raises(ValueError, match="not rubric JSON"):
        r.rubric("{not json")


def test_verifier_unknown_verdict_is_not_counted_as_no():
    class HalfUnknown(RuleVerifier):
        def verify_many(self, items):
            out = super().verify_many(items)
            for k in range(0, len(out), 2):
                out[k] = out[k].copy()
                out[k][0] = UNKNOWN
            return out

    out, metrics = _call(RubricReward(HalfUnknown()), TEXTS)
    assert out[0] is None and out[2] is None and out[1] == pytest.approx(EXPECTED[1])
    assert metrics["rubric/unscored"] == [2.0]


def test_bt_reward():
    w = np.array([1.0, -2.0])

    def featurize(case, text):
        return None if text is None else np.array([text.count("a"), text.count("b")], dtype=float)

    bt = BTReward(lambda X, cases: X @ w, featurize)
    out = bt(prompts=["p"] * 3, completions=["aa", "ab", None], case=[json.dumps({})] * 3, log_metric=None)
    assert out[:2] == pytest.approx([2.0, -1.0]) and out[2] is None


def test_completion_text_forms():
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "a"}, {"role": "tool", "content": "b"}]) == "a"
    assert completion_text(None) is None
    with pytest.raises(TypeError):
        completion_text(3)
    assert math.isnan(RubricReward(RuleVerifier()).score(["p"], [None], [RUB])[0])
