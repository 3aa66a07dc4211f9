"""`chase rubric score|refine` with --judge/--proposer openai, and `chase judge serve --oracle`, over real HTTP."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chase.cli import main
from rft.judge_server import JudgeServer, OracleBackend, oracle_verdict
from rft.proposer import PROPOSER_SYSTEM_PROMPT

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = ["Mentions 'aspirin'", "Recommends 'rest'", "Mentions 'doctor'"]
RESPONSES = ["Take aspirin and rest.", "Rest, and see a doctor.", "Drink water."]


class OracleAndProposer(OracleBackend):
    """Judge prompts -> the oracle; proposer prompts -> a fixed valid rubric."""

    def complete(self, messages, max_tokens=None, temperature=0.0):
        if messages[0]["content"] == PROPOSER_SYSTEM_PROMPT:
            return json.dumps(
                {
                    "criteria": [{"criterion": c, "weight": 2} for c in CRITERIA]
                    + [{"criterion": "Mentions 'dark room'", "weight": 3}]
                }
            )
        return super().complete(messages)


def _files(tmp_path):
    rubrics = tmp_path / "rubrics.json"
    rubrics.write_text(
        json.dumps([{"prompt": "Headache?", "rubrics": [{"criterion": c, "weight": 1} for c in CRITERIA]}])
    )
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps({"prompt_index": 0, "response": r}) + "\n" for r in RESPONSES))
    pools = tmp_path / "pools.jsonl"
    pools.write_text(json.dumps({"prompt_index": 0, "responses": RESPONSES}) + "\n")
    return rubrics, responses, pools


def test_rubric_score_with_openai_judge_and_cache(tmp_path, capsys):
    rubrics, responses, _ = _files(tmp_path)
    with JudgeServer(OracleBackend()) as srv:
        argv = [
            "rubric",
            "score",
            "--rubrics",
            str(rubrics),
            "--responses",
            str(responses),
            "--judge",
            "openai",
            "--base-url",
            srv.base_url,
            "--model",
            "oracle",
            "--judge-cache",
            str(tmp_path / "v.sqlite"),
            "--api-key-env",
            "CHASE_TEST_NO_SUCH_KEY",
            "--out",
            str(tmp_path / "out.jsonl"),
        ]
        assert main(argv) == 0
        assert srv.n_requests == 3
        rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert [r["verdicts"] for r in rows] == [
            ["yes" if oracle_verdict(r, c) else "no" for c in CRITERIA] for r in RESPONSES
        ]
        assert main(argv) == 0 and srv.n_requests == 3  # rerun: all from the cache
    summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary["verifier"] == "openai:oracle" and summary["unscored"] == 0


def test_rubric_refine_with_openai_proposer(tmp_path, capsys):
    rubrics, _, pools = _files(tmp_path)
    out = tmp_path / "refined.json"
    with JudgeServer(OracleAndProposer()) as srv:
        assert (
            main(
                [
                    "rubric",
                    "refine",
                    "--rubrics",
                    str(rubrics),
                    "--pools",
                    str(pools),
                    "--judge",
                    "openai",
                    "--proposer",
                    "openai",
                    "--base-url",
                    srv.base_url,
                    "--model",
                    "scripted",
                    "--judge-arg",
                    "model=oracle",
                    "--out",
                    str(out),
                    "--quiet",
                ]
            )
            == 0
        )
        models = {r.model for r in srv.requests}
    assert models == {"oracle", "scripted"}  # --judge-arg overrides the shared --model for the judge only
    refined = json.loads(out.read_text())[0]["rubrics"]
    assert [r["criterion"] for r in refined][-1] == "Mentions 'dark room'"
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["status_counts"]["accepted"] == 1 and report["proposer"].startswith("openai:scripted")


def test_judge_serve_oracle_cli():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chase", "judge", "serve", "--oracle", "--port", "0", "--latency-ms", "5"]
        + ["--max-body-bytes", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        info = json.loads(proc.stdout.readline())
        with urllib.request.urlopen(info["base_url"] + "/models", timeout=10) as r:
            assert json.loads(r.read())["data"][0]["id"] == "oracle"
        from rewards.rubric import Criterion, Rubric
        from rft.judges import JudgeConfig, OpenAICompatibleJudge

        judge = OpenAICompatibleJudge(JudgeConfig(base_url=info["base_url"], model="oracle", api_key_env=None))
        rubric = Rubric(tuple(Criterion(c) for c in CRITERIA))
        assert judge.verify("p", RESPONSES[0], rubric).tolist() == [1, 1, 0]
        big = urllib.request.Request(info["base_url"] + "/chat/completions", data=b" " * 100_001, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(big, timeout=10)
        assert e.value.code == 413  # --max-body-bytes reaches the server
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0
