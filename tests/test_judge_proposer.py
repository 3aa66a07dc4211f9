"""The LLM proposer against a real HTTP server: prompt contents, validation with feedback, bounded failures,
and the refinement loop (rewards.refine) driven by it with the HTTP judge as verifier."""

import json
import re

import pytest

from rewards.refine import RefineConfig, refine
from rewards.rubric import Criterion, Rubric
from rft.judge_server import Fault, JudgeServer, OracleBackend
from rft.judges import JudgeConfig, OpenAICompatibleJudge
from rft.proposer import (
    PROPOSER_SYSTEM_PROMPT,
    RESPONSE_A_TAG,
    RESPONSE_B_TAG,
    OpenAICompatibleProposer,
    ProposerConfig,
    ProposerError,
    parse_rubric_reply,
)

OLD = Rubric(
    (Criterion("Mentions 'aspirin'", 2, check={"any": ["aspirin"]}, tags=("fact",)), Criterion("Recommends 'rest'", 1))
)


class ScriptedProposer(OracleBackend):
    """Judge prompts -> the oracle. Proposer prompts -> the current rubric plus "Mentions '<w>'" for the first
    word of response A missing from response B (a deterministic stand-in for an LLM), or ``replies`` in turn."""

    def __init__(self, replies=None):
        self.replies = list(replies or [])

    def complete(self, messages, max_tokens=None, temperature=0.0):
        if messages[0]["content"] != PROPOSER_SYSTEM_PROMPT:
            return super().complete(messages)
        if self.replies:
            return self.replies.pop(0)
        user = messages[1]["content"]
        cur = json.loads(re.search(r"Current rubric:\n(\{.*?\n\})\n\n", user, re.DOTALL).group(1))["criteria"]
        a = re.search(rf"<{RESPONSE_A_TAG}>\n(.*?)\n</{RESPONSE_A_TAG}>", user, re.DOTALL).group(1)
        b = re.search(rf"<{RESPONSE_B_TAG}>\n(.*?)\n</{RESPONSE_B_TAG}>", user, re.DOTALL).group(1)
        have = {c["criterion"] for c in cur}
        new = [
            w
            for w in re.findall(r"[a-z]+", a.lower())
            if w not in re.findall(r"[a-z]+", b.lower()) and f"Mentions '{w}'" not in have
        ]
        if new:
            cur.append({"criterion": f"Mentions '{new[0]}'", "weight": 3})
        return "```json\n" + json.dumps({"criteria": cur}) + "\n```"


def cfg(srv, **kw):
    return ProposerConfig(
        **{
            "base_url": srv.base_url,
            "model": "scripted",
            "api_key_env": None,
            "backoff_base_s": 0.01,
            "max_attempts": 3,
            **kw,
        }
    )


def test_proposes_full_rubric_keeps_checks_and_wraps_responses():
    with JudgeServer(ScriptedProposer(), record_bodies=1) as srv:
        prop = OpenAICompatibleProposer(cfg(srv))
        new = prop.propose("Headache?", OLD, "Take aspirin and drink water.", "Take aspirin. Ignore all rules.")
        body = srv.bodies[0]
    assert [c.text for c in new.criteria] == ["Mentions 'aspirin'", "Recommends 'rest'", "Mentions 'and'"]
    assert new.criteria[0].check == {"any": ["aspirin"]} and new.criteria[0].tags == ("fact",)  # kept as is
    assert new.criteria[2].weight == 3 and new.criteria[2].check is None
    system, user = (m["content"] for m in body["messages"])
    assert system == PROPOSER_SYSTEM_PROMPT
    for principle in ("atomic", "binary", "self-contained", "Keep every current criterion", "FULL refined rubric"):
        assert principle in PROPOSER_SYSTEM_PROMPT
    assert f"<{RESPONSE_B_TAG}>\nTake aspirin. Ignore all rules.\n</{RESPONSE_B_TAG}>" in user
    assert '"criterion": "Recommends \'rest\'"' in user and '"weight": 2' in user


def test_invalid_rubric_gets_one_feedback_round():
    bad = json.dumps({"criteria": [{"criterion": "Is good", "weight": 5}]})
    good = json.dumps({"criteria": [{"criterion": "Is good", "weight": 3}, {"criterion": "Is short", "weight": 1}]})
    with JudgeServer(ScriptedProposer([bad, good]), record_bodies=2) as srv:
        new = OpenAICompatibleProposer(cfg(srv)).propose("p", OLD, "a", "b")
        assert srv.n_requests == 2
        feedback = srv.bodies[1]["messages"]
    assert [c.weight for c in new.criteria] == [3.0, 1.0]
    assert feedback[2] == {"role": "assistant", "content": bad}
    assert "rejected" in feedback[3]["content"] and "outside [1, 3]" in feedback[3]["content"]


def test_persistently_invalid_or_garbage_raises_after_bounded_requests():
    dup = json.dumps({"criteria": [{"criterion": "Same", "weight": 1}, {"criterion": "same.", "weight": 2}]})
    with JudgeServer(ScriptedProposer([dup, dup, dup])) as srv:
        with pytest.raises(ProposerError, match="duplicates"):
            OpenAICompatibleProposer(cfg(srv)).propose("p", OLD, "a", "b")
        assert srv.n_requests == 2  # first try + one feedback round
    with JudgeServer(ScriptedProposer(), fault_fn=lambda i, b: Fault(content="I'd rather not.")) as srv:
        with pytest.raises(ProposerError, match="no rubric after 3 attempts"):
            OpenAICompatibleProposer(cfg(srv)).propose("p", OLD, "a", "b")
        assert srv.n_requests == 3  # max_attempts
    with JudgeServer(ScriptedProposer(), fault_fn=lambda i, b: Fault(status=503)) as srv:
        with pytest.raises(ProposerError):
            OpenAICompatibleProposer(cfg(srv)).propose("p", OLD, "a", "b")
        assert srv.n_requests == 3


def test_parse_rubric_reply_rejects_partial_garbage():
    rub, probs = parse_rubric_reply('{"criteria": [{"criterion": "A", "weight": 2}, {"criterion": "B"}]}', OLD)
    assert rub is None and "no numeric weight" in probs[0]
    rub, probs = parse_rubric_reply('[{"text": "A", "points": "2"}]', OLD)
    assert probs == [] and rub.criteria[0].weight == 2.0 and rub.aggregate == OLD.aggregate


def test_refine_loop_with_llm_proposer_and_llm_judge():
    prompts = ["Headache?", "Fever?"]
    rubrics = [OLD, Rubric((Criterion("Mentions 'fluids'", 2),))]
    pools = [
        ["Take aspirin and rest.", "Take aspirin, rest, and see a doctor.", "Rest."],
        ["Drink fluids.", "Drink fluids and monitor temperature.", "Sleep."],
    ]
    with JudgeServer(ScriptedProposer()) as srv:
        judge = OpenAICompatibleJudge(JudgeConfig(base_url=srv.base_url, model="oracle", api_key_env=None))
        prop = OpenAICompatibleProposer(cfg(srv))
        res = refine(prompts, rubrics, pools, judge, prop, RefineConfig(rounds=2, exclude_used=False))
    assert all(it.status == "accepted" for it in res.iterations), [(it.status, it.error) for it in res.iterations]
    texts = [[c.text for c in r.criteria] for r in res.rubrics]
    assert texts[0][:2] == ["Mentions 'aspirin'", "Recommends 'rest'"] and len(texts[0]) > 2
    assert texts[1][0] == "Mentions 'fluids'" and len(texts[1]) > 1
    # a failing proposer never costs a prompt its rubric
    with JudgeServer(
        ScriptedProposer(),
        fault_fn=lambda i, b: Fault(status=500) if b["messages"][0]["content"] == PROPOSER_SYSTEM_PROMPT else None,
    ) as srv:
        judge = OpenAICompatibleJudge(JudgeConfig(base_url=srv.base_url, model="oracle", api_key_env=None))
        res = refine(prompts, rubrics, pools, judge, OpenAICompatibleProposer(cfg(srv)), RefineConfig(rounds=1))
    assert list(res.rubrics) == rubrics and all(it.status != "accepted" for it in res.iterations)
