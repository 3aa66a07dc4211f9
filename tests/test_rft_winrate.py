"""Win rate against the base policy: pairwise, both orders, through an OpenAI-compatible server (the oracle)."""

import json
import math

from rft.judge_server import JudgeServer, OracleBackend
from rft.judges.client import ChatClient, ChatConfig
from rft.winrate import pair_score, pairwise_messages, parse_pairwise_request, parse_preference, win_rates


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
            res = win_rates(client, ["p0", "p1"], rows)
        finally:
            client.close()
        assert srv.n_requests == 8  # 2 steps x 2 pairs x 2 orders
    assert [(w.step, w.rate, w.n, w.unscored) for w in res] == [(0, 0.5, 2, 0), (1, 0.75, 2, 0)]
    assert res[1].agree == 0.5 and json.dumps(res[1].__dict__)
