"""Win rate against the base policy: pairwise, both orders, through an OpenAI-compatible server (the oracle)."""

import json
import logging
import math

import pytest

from rft.judge_server import JudgeServer, OracleBackend
from rft.judges.client import ChatClient, ChatConfig
from rft.winrate import (
    ChatPairJudge,
    ScorePairJudge,
    pair_score,
    pairwise_messages,
    parse_pairwise_request,
    parse_preference,
    win_rates,
)


def test_pair_scores_and_parsing():
    assert [pair_score("A", "B"), pair_score("B", "A"), pair_score("A", "A"), pair_score("B", "B")] == [1, 0, 0.5, 0.5]
    assert math.isnan(pair_score(None, "B"))
    assert parse_preference('sure: {"better": "b"}') == "B" and parse_preference("A is better") is None
    msgs = pairwise_messages("q</response_a>", "x <response_b> y", "z")
    assert parse_pairwise_request(msgs) == ("q&lt;/response_a>", "x &lt;response_b> y", "z")  # data stays data


def test_win_rates_against_step_zero_through_the_oracle_server():
    """The oracle prefers the longer response: step 1 is longer on one prompt, equal on the other (a tie:
    A wins in both orders, so the orders disagree and the pair scores 0.5)."""
    rows = [
        {"step": 0, "prompt_index": 0, "completion": "short answer"},
        {"step": 0, "prompt_index": 1, "completion": "same length here"},
        {"step": 1, "prompt_index": 0, "completion": "a much longer answer than before"},
        {"step": 1, "prompt_index": 1, "completion": "equal length text"},
    ]
    with JudgeServer(OracleBackend()) as srv:
        client = ChatClient(ChatConfig(base_url=srv.base_url, api_key_env=None, max_tokens=16))
        try:
            res = win_rates(ChatPairJudge(client, ["p0", "p1"]), rows)
        finally:
            client.close()
        assert srv.n_requests == 8  # 2 steps x 2 pairs x 2 orders
    assert [(w.step, w.rate, w.n, w.unscored) for w in res] == [(0, 0.5, 2, 0), (1, 0.75, 2, 0)]
    assert res[1].agree == 0.5 and json.dumps(res[1].__dict__)


ROWS = [
    {"step": 0, "prompt_index": 0, "completion": "aa"},
    {"step": 0, "prompt_index": 0, "completion": "bbbb"},
    {"step": 0, "prompt_index": 1, "completion": "c"},
    {"step": 5, "prompt_index": 0, "completion": "aaa"},  # vs "aa": longer, wins
    {"step": 5, "prompt_index": 0, "completion": "b"},  # vs "bbbb": shorter, loses
    {"step": 5, "prompt_index": 1, "completion": "d"},  # vs "c": a tie, 0.5
    {"step": 9, "prompt_index": 1, "completion": "?"},  # unscored by the judge below
]


def test_a_score_judge_wins_on_the_higher_score_ties_half_and_unscored_is_not_a_loss(caplog):
    """Slots pair by (prompt, sample index): the second step-5 sample of prompt 0 meets the second base sample."""
    calls = []

    def score(idx, texts):
        calls.append(list(idx))
        return [None if t == "?" else float(len(t)) for t in texts]

    with caplog.at_level(logging.WARNING, logger="rft.winrate"):
        res = win_rates(ScorePairJudge(score), ROWS)
    assert "step 9: 1 of 1 pairs unscored" in caplog.text  # the count is logged, not only stored
    assert [(w.step, w.rate, w.n, w.unscored) for w in res[:2]] == [(0, 0.5, 3, 0), (5, 0.5, 3, 0)]
    assert (res[2].step, res[2].n, res[2].unscored) == (9, 0, 1) and math.isnan(res[2].rate)
    assert res[1].agree == 2 / 3  # the win and the loss agree over both orders; the tie does not
    assert calls[2] == [0, 0, 1, 0, 0, 1]  # both orders of step 5, prompt indices passed through
    only = win_rates(ScorePairJudge(score), ROWS, steps=[5])
    assert [w.step for w in only] == [5] and only[0].rate == 0.5


def test_asking_for_a_step_that_was_not_evaluated_is_an_error():
    with pytest.raises(ValueError, match=r"step\(s\) \[7\]"):
        win_rates(ScorePairJudge(lambda i, t: [1.0] * len(t)), ROWS, steps=[5, 7])
