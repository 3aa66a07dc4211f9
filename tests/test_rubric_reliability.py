"""Reliability of the rubric commands: regex time limits, refinement-log safety, failures that exit non-zero,
options that would be ignored, rubric warnings, file modes and the plain-http key warning."""

import json
import logging
import os
import stat
import time

import numpy as np
import pytest

from chase import rubric_cli
from rewards.formats import load_rubrics
from rewards.io import atomic_write_text, read_jsonl
from rewards.refine import LOG_KIND, RefineConfig, RefineLogError, refine
from rewards.rubric import NO, UNKNOWN, YES, Criterion, Rubric, unscored_reason
from rewards.verify import RuleVerifier
from tests.test_refine_loop import WordProposer, world
from tests.test_rubric_cli import EX, AddPhraseProposer

EVIL = "(a|aa)+$"  # catastrophic backtracking: minutes on 41 characters without a time limit
SLOW_TEXT = "a" * 40 + "!"


# --------------------------------------------------------------------------------------------------------------
# 1. regex checks run with a time limit


def test_pathological_regex_is_unknown_counted_and_logged(caplog):
    rubric = Rubric((Criterion("evil", 1, {"regex": EVIL}), Criterion("fine", 1, {"regex": "a+!"})))
    v = RuleVerifier(regex_timeout_s=0.02)
    t = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="rewards.verify"):
        out = v.verify_many([("p", SLOW_TEXT, rubric), ("p", "b", rubric)])
    assert time.monotonic() - t < 5
    assert out[0].tolist() == [UNKNOWN, YES]  # UNKNOWN, never NO
    assert out[1].tolist() == [NO, NO]  # no backtracking blow-up on a short non-match
    assert v.timed_out == 1
    assert "1 regex check(s) ran past" in caplog.text
    # negate does not turn a timeout into a verdict either
    neg = Rubric((Criterion("not evil", 1, {"regex": EVIL, "negate": True}),))
    assert v.verify("p", SLOW_TEXT, neg).tolist() == [UNKNOWN] and v.timed_out == 2


def test_regex_semantics_are_those_of_re():
    v = RuleVerifier()
    cases = [(r"(do not|don't) drive", "Please DO NOT drive.", YES), (r"^\d+ mg$", "take 5 mg", NO)]
    cases += [(r"\bCT\b", "a ct scan", YES), (r"colou?r", "COLOR", YES), (r"a.b", "a\nb", NO)]
    for pat, text, want in cases:
        assert v.verify("p", text, Rubric((Criterion("c", 1, {"regex": pat}),))).tolist() == [want], pat
    with pytest.raises(ValueError, match="regex_timeout_s"):
        RuleVerifier(regex_timeout_s=0)


def test_score_cli_reports_timed_out_checks(tmp_path, capsys):
    rub = tmp_path / "r.json"
    rub.write_text(
        json.dumps([{"prompt": "p", "rubrics": [{"criterion": "evil", "weight": 1, "check": {"regex": EVIL}}]}])
    )
    resp = tmp_path / "resp.jsonl"
    resp.write_text(json.dumps({"prompt_index": 0, "response": SLOW_TEXT}) + "\n")
    args = ["score", "--rubrics", str(rub), "--responses", str(resp), "--judge-arg", "regex_timeout_s=0.02"]
    assert rubric_cli.main([*args, "--max-unscored-frac", "1"]) == 0
    cap = capsys.readouterr()
    row = json.loads(cap.out)
    assert row["score"] is None and row["reason"] == "1 unknown verdict" and row["verdicts"] == ["unknown"]
    assert json.loads(cap.err.strip().splitlines()[-1])["timed_out_checks"] == 1


# --------------------------------------------------------------------------------------------------------------
# 2. the refinement log


def run(tmp_path, log, **cfg):
    prompts, rubrics, pools = world(P=3, M=6)
    config = RefineConfig(rounds=2, exclude_used=True, **cfg)
    return refine(prompts, rubrics, pools, RuleVerifier(), WordProposer(), config, log_path=log)


@pytest.mark.parametrize(
    "content",
    [b'{"max_steps": 10}', b'{"max_steps": 10}\n', b"lr = 0.1\nsteps = 3", b"\xff\xfe binary", b'{"type": "header"}\n'],
)
def test_a_file_that_is_not_our_log_is_refused_untouched(tmp_path, content):
    log = tmp_path / "settings.json"
    log.write_bytes(content)
    with pytest.raises(RefineLogError, match="not a chasing-tail refinement log.*untouched"):
        run(tmp_path, log)
    assert log.read_bytes() == content


def test_header_has_kind_version_and_config_hash(tmp_path):
    run(tmp_path, tmp_path / "log.jsonl")
    head = read_jsonl(tmp_path / "log.jsonl")[0]
    assert head["kind"] == LOG_KIND and head["version"] == 2 and len(head["config_hash"]) == 16


def test_a_log_of_other_settings_names_the_keys(tmp_path):
    log = tmp_path / "log.jsonl"
    run(tmp_path, log)
    before = log.read_bytes()
    with pytest.raises(RefineLogError, match=r"differs in: max_criteria, weight_range"):
        run(tmp_path, log, weight_range=(1, 5), max_criteria=9)
    assert log.read_bytes() == before


def _edit(log, line, fn):
    rows = read_jsonl(log)
    fn(rows[line - 1])
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize(
    "line,edit,match",
    [
        (2, lambda r: r["new_rubric"]["criteria"][0].update(weight=99), "not valid under the settings.*99"),
        (2, lambda r: r.update(round=-5), "unexpected step"),
        (3, lambda r: r.update(prompt_index=7), "unexpected step"),
        (2, lambda r: r.update(prompt_index="0"), "prompt_index must be an integer"),
        (2, lambda r: r.update(status="great"), "status must be one of"),
        (2, lambda r: r.update(chosen=[0, 0]), "not two offered candidates"),
        (2, lambda r: r.update(pool_indices=[0]), "offered candidates"),
        (2, lambda r: r["new_rubric"].update(criteria=[]), "not valid"),
        (2, lambda r: r.update(status="invalid"), "rubric changed"),
        (3, lambda r: r["old_rubric"]["criteria"].pop(), "old rubric"),
        (2, lambda r: r.update(type="note"), "not an iteration record"),
    ],
)
def test_an_edited_log_is_refused_untouched(tmp_path, line, edit, match):
    log = tmp_path / "log.jsonl"
    run(tmp_path, log)
    _edit(log, line, edit)
    before = log.read_bytes()
    with pytest.raises(RefineLogError, match=match):
        run(tmp_path, log)
    assert log.read_bytes() == before


def test_only_a_partial_last_line_of_our_log_is_dropped(tmp_path):
    full = run(tmp_path, tmp_path / "full.jsonl")
    text = (tmp_path / "full.jsonl").read_text()
    log = tmp_path / "log.jsonl"
    # a damaged line in the middle is refused (untouched), not cut
    lines = text.split("\n")
    damaged = "\n".join([*lines[:2], lines[2][:30], *lines[3:]])
    log.write_text(damaged)
    with pytest.raises(RefineLogError, match="line 3 is not valid JSON"):
        run(tmp_path, log)
    assert log.read_text() == damaged
    log.write_text(text[:-40])  # the last record cut off
    assert run(tmp_path, log).rubrics == full.rubrics and log.read_text() == text


def test_cli_refuses_a_settings_file_as_log(tmp_path, capsys):
    rubric_cli.register_proposer("add-phrase", lambda options: AddPhraseProposer())
    settings = tmp_path / "settings.json"
    settings.write_text('{"lr": 0.1}')
    assert _refine(tmp_path, "--proposer", "add-phrase", "--log", str(settings)) == 2
    err = capsys.readouterr().err
    assert "not a chasing-tail refinement log" in err and len(err.strip().splitlines()) == 1
    assert settings.read_text() == '{"lr": 0.1}' and not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------------------------------------------
# 3. failures exit non-zero


class DeadJudge:
    """A judge whose server is down or rejects the key: every verdict UNKNOWN."""

    name = "dead"

    def verify_many(self, items):
        return [np.full(len(r.criteria), UNKNOWN, np.int8) for _p, _resp, r in items]


class FailingProposer:
    name = "failing"

    def propose(self, prompt, rubric, a, b):
        raise ConnectionError("401 Unauthorized")


@pytest.fixture
def fakes():
    rubric_cli.register_verifier("dead", lambda options: DeadJudge())
    rubric_cli.register_proposer("failing", lambda options: FailingProposer())
    rubric_cli.register_proposer("add-phrase", lambda options: AddPhraseProposer())


def _score(out, *extra):
    args = ["score", "--rubrics", f"{EX}/triage_paper.json", "--responses", f"{EX}/triage_responses.jsonl"]
    return rubric_cli.main([*args, "--out", str(out), *extra])


def test_score_with_a_dead_judge_writes_then_exits_1(tmp_path, capsys, fakes):
    out = tmp_path / "s.jsonl"
    assert _score(out, "--judge", "dead") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("chase rubric score: error: 6 of 6 responses unscored (100%")
    assert len(read_jsonl(out)) == 6  # what it has is written
    assert _score(out, "--judge", "dead", "--max-unscored-frac", "1") == 0  # 1 disables the check
    assert _score(out) == 0  # the rule judge: 2 of 6 unscored (judge-only criterion), below the default 0.5
    assert _score(out, "--max-unscored-frac", "0.3") == 1


def _refine(tmp_path, *extra):
    pools = tmp_path / "pools.jsonl"
    resp = [json.loads(x)["response"] for x in open(f"{EX}/triage_responses.jsonl")]
    pools.write_text(
        json.dumps({"prompt_index": 0, "responses": resp[:4]})
        + "\n"
        + json.dumps({"prompt_index": 1, "responses": resp[4:]})
        + "\n"
    )
    args = ["refine", "--rubrics", f"{EX}/triage_paper.json", "--pools", str(pools), "--quiet", "--unknown", "skip"]
    return rubric_cli.main([*args, "--out", str(tmp_path / "r.json"), *extra])


def test_refine_where_every_proposer_call_failed_exits_1(tmp_path, capsys, fakes):
    assert _refine(tmp_path, "--proposer", "failing") == 1
    cap = capsys.readouterr()
    assert json.loads(cap.out)["status_counts"]["proposer_error"] == 2
    assert "2 of 2 proposer calls failed (invalid 0, proposer_error 2)" in cap.err.strip().splitlines()[-1]
    assert load_rubrics(tmp_path / "r.json") == load_rubrics(f"{EX}/triage_paper.json")  # written, old rubrics
    assert _refine(tmp_path, "--proposer", "failing", "--max-unscored-frac", "1") == 0
    assert _refine(tmp_path, "--proposer", "add-phrase") == 0


def test_refine_with_a_dead_judge_exits_1(tmp_path, capsys, fakes):
    assert _refine(tmp_path, "--proposer", "add-phrase", "--judge", "dead") == 1
    assert "6 of 6 pool responses unscored" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# 4. options that would have no effect are errors


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--world-arg", "n_prompts=8"], "has no effect with rule"),
        (["--world-arg", "bogus=1"], "has no effect"),
        (["--judge", "sim", "--world-arg", "bogus=1"], r"unknown key\(s\) \['bogus'\]"),
        (["--base-url", "http://x/v1"], "--base-url only apply to the LLM"),
    ],
)
def test_unused_or_unknown_options_are_errors(tmp_path, capsys, extra, match):
    assert _score(tmp_path / "s.jsonl", *extra) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert __import__("re").search(match, err), err
    assert not (tmp_path / "s.jsonl").exists()


def test_world_arg_reaches_the_sim_verifier():
    import argparse

    p = argparse.ArgumentParser()
    rubric_cli._score_flags(p)
    ns = p.parse_args(["--rubrics", "r", "--responses", "x", "--judge", "sim", "--world-arg", "n_prompts=3"])
    assert rubric_cli.make_verifier(ns).world.n_prompts == 3
    ns.judge_arg = ["n_prompts=4"]  # --judge-arg wins
    assert rubric_cli.make_verifier(ns).world.n_prompts == 4


# --------------------------------------------------------------------------------------------------------------
# 5. rubric warnings and the reason of a null score


def test_suspect_rubrics_are_warned_about_with_file_and_record(tmp_path, caplog):
    paper = tmp_path / "p.json"
    crit = [{"criterion": "Is short", "weight": 1}, {"criterion": "is short.", "weight": 7}]
    paper.write_text(
        json.dumps([{"prompt": "a", "rubrics": [{"criterion": "ok", "weight": 2}]}, {"prompt": "b", "rubrics": crit}])
    )
    hb = tmp_path / "hb.jsonl"
    hb.write_text(json.dumps({"prompt": "q", "rubrics": [{"criterion": "harm", "points": -5, "tags": []}]}) + "\n")
    with caplog.at_level(logging.WARNING, logger="rewards.formats"):
        load_rubrics(paper)
        recs = load_rubrics(hb, "healthbench")
    msgs = [r.getMessage() for r in caplog.records]
    assert any(f"{paper}: record 1: criterion 1 duplicates criterion 0" in m for m in msgs)
    assert any(f"{paper}: record 1: weights outside the paper's 1..3: criteria 1 (7)" in m for m in msgs)
    assert any(f"{hb}: record 0 (line 1): no criterion has positive points" in m for m in msgs)
    assert not any("record 0:" in m and str(paper) in m for m in msgs)  # the good record is quiet
    assert unscored_reason(recs[0].rubric, np.array([NO])) == "no positive points"


def test_null_score_reasons():
    r = Rubric((Criterion("a", 1), Criterion("b", 2)))
    assert unscored_reason(r, np.array([YES, NO])) is None
    assert unscored_reason(r, np.array([UNKNOWN, UNKNOWN])) == "2 unknown verdicts"
    assert unscored_reason(r, np.array([UNKNOWN, UNKNOWN]), "skip") == "no known verdicts"
    hb = Rubric((Criterion("a", 5), Criterion("b", -3)), "healthbench")
    assert (
        unscored_reason(hb, np.array([UNKNOWN, YES]), "skip") == "no criterion with positive points has a known verdict"
    )


def test_score_cli_shows_the_reason(tmp_path, capsys):
    hb = tmp_path / "hb.jsonl"
    hb.write_text(
        json.dumps(
            {"prompt": "q", "rubrics": [{"criterion": "harm", "points": -5, "tags": [], "check": {"any": ["x"]}}]}
        )
        + "\n"
    )
    resp = tmp_path / "resp.jsonl"
    resp.write_text(json.dumps({"prompt_index": 0, "response": "y"}) + "\n")
    args = [
        "score",
        "--format",
        "healthbench",
        "--rubrics",
        str(hb),
        "--responses",
        str(resp),
        "--max-unscored-frac",
        "1",
    ]
    assert rubric_cli.main(args) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["score"] is None and row["reason"] == "no positive points"


# --------------------------------------------------------------------------------------------------------------
# 6. file modes and the plain-http key warning


def test_written_files_get_the_umasks_mode(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "b.txt", "x").stat().st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.parametrize(
    "url,warned",
    [
        ("http://judge.example.com/v1", True),
        ("http://10.0.0.5:8000/v1", True),
        ("https://judge.example.com/v1", False),
        ("http://127.0.0.1:8000/v1", False),
        ("http://localhost:8000/v1", False),
        ("http://[::1]:8000/v1", False),
    ],
)
def test_api_key_over_plain_http_warns_once_without_the_key(monkeypatch, caplog, url, warned):
    pytest.importorskip("openai")
    from rft.judges import ChatClient, ChatConfig

    secret = "sk-test-plain-http-4242"
    monkeypatch.setenv("CHASE_TEST_HTTP_KEY", secret)
    client = ChatClient(ChatConfig(base_url=url, api_key_env="CHASE_TEST_HTTP_KEY"))
    with caplog.at_level(logging.WARNING, logger="rft.judges.client"):
        client._make_sdk()
        client._make_sdk()
    hits = [r for r in caplog.records if "plain http" in r.getMessage()]
    assert len(hits) == (1 if warned else 0)
    assert secret not in caplog.text
    monkeypatch.delenv("CHASE_TEST_HTTP_KEY")
    caplog.clear()
    ChatClient(ChatConfig(base_url=url, api_key_env="CHASE_TEST_HTTP_KEY"))._make_sdk()  # no key: nothing to warn
    assert "plain http" not in caplog.text
