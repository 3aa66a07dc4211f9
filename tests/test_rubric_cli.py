"""``chase rubric score`` and ``chase rubric refine`` on the example files."""

import argparse
import json

import pytest

from chase import rubric_cli
from rewards.formats import load_rubrics
from rewards.io import read_jsonl
from rewards.rubric import Criterion

EX = "examples/rubrics"


def test_score_paper_example(tmp_path, capsys):
    out = tmp_path / "scores.jsonl"
    rc = rubric_cli.main(
        [
            "score",
            "--rubrics",
            f"{EX}/triage_paper.json",
            "--responses",
            f"{EX}/triage_responses.jsonl",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    rows = read_jsonl(out)
    by_id = {r["id"]: r for r in rows}
    assert by_id["cvst-great"]["score"] == 1.0
    assert by_id["cvst-great"]["score"] > by_id["cvst-vague"]["score"] > by_id["cvst-bad"]["score"]
    assert by_id["cvst-injection"]["verdicts"][:3] == ["no", "no", "no"]  # graded as data
    # the second prompt has a criterion without a check: unscored (null), never a silent 0
    assert by_id["battery-great"]["score"] is None and by_id["battery-great"]["n_unknown"] == 1
    summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary["scored"] == 4 and summary["unscored"] == 2 and summary["unknown_verdicts"] == 2


def test_score_healthbench_to_stdout(capsys):
    rc = rubric_cli.main(
        [
            "score",
            "--format",
            "healthbench",
            "--unknown",
            "skip",
            "--rubrics",
            f"{EX}/healthbench_sample.jsonl",
            "--responses",
            f"{EX}/healthbench_responses.jsonl",
        ]
    )
    assert rc == 0
    cap = capsys.readouterr()
    rows = [json.loads(x) for x in cap.out.splitlines()]
    assert rows[1]["id"] == "hb1-harmful" and rows[1]["score"] < 0  # an example may score below 0
    summary = json.loads(cap.err.strip().splitlines()[-1])
    assert 0 <= summary["healthbench_score_clipped_of_scored"] <= 1


@pytest.mark.parametrize(
    "record,field",
    [
        ({"response": "x"}, "prompt"),
        ({"prompt_index": 9, "response": "x"}, "prompt_index"),
        ({"prompt": "unknown prompt", "response": "x"}, "prompt"),
        ({"prompt_index": 0}, "response"),
    ],
)
def test_score_errors_name_file_record_field(tmp_path, capsys, record, field):
    p = tmp_path / "resp.jsonl"
    p.write_text(json.dumps({"prompt_index": 0, "response": "ok"}) + "\n" + json.dumps(record) + "\n")
    assert rubric_cli.main(["score", "--rubrics", f"{EX}/triage_paper.json", "--responses", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "record 1" in err and repr(field) in err


class AddPhraseProposer:
    """Adds 'mentions <first word of a missing from b>' (a pure function of its inputs)."""

    name = "add-phrase"

    def propose(self, prompt, rubric, a, b):
        words = [w.strip(".,;:").lower() for w in a.split()]
        have = {c.text for c in rubric.criteria}
        new = [w for w in words if w and w not in b.lower() and f"mentions {w}" not in have]
        if not new:
            raise ValueError("nothing separates the pair")
        return rubric.with_criteria(rubric.criteria + (Criterion(f"mentions {new[0]}", 1, {"any": [new[0]]}),))


def test_refine_cli_resumes(tmp_path, capsys):
    rubric_cli.register_proposer("add-phrase", lambda options: AddPhraseProposer())
    pools = tmp_path / "pools.jsonl"
    resp = [json.loads(x) for x in open(f"{EX}/triage_responses.jsonl")]
    pools.write_text(json.dumps({"prompt_index": 0, "responses": [r["response"] for r in resp[:4]]}) + "\n")
    args = ["refine", "--rubrics", f"{EX}/triage_paper.json", "--pools", str(pools)]
    args += ["--proposer", "add-phrase", "--rounds", "2", "--exclude-used", "--quiet"]
    args += ["--out", str(tmp_path / "refined.json"), "--log", str(tmp_path / "log.jsonl")]
    assert rubric_cli.main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["iterations"] == 4 and summary["resumed_iterations"] == 0
    assert summary["status_counts"]["accepted"] == 2 and summary["status_counts"]["no_pair"] == 2  # prompt 1: no pool
    refined = load_rubrics(tmp_path / "refined.json")
    assert len(refined[0].rubric) == 7 and len(refined[1].rubric) == 6
    assert rubric_cli.main(args) == 0  # rerun: everything is replayed from the log
    assert json.loads(capsys.readouterr().out)["resumed_iterations"] == 4
    assert load_rubrics(tmp_path / "refined.json") == refined


def test_score_with_the_wrong_judge_is_a_clean_error(tmp_path, capsys):
    p = tmp_path / "resp.jsonl"
    p.write_text(json.dumps({"prompt_index": 0, "response": [0, 1, 1]}) + "\n")
    assert rubric_cli.main(["score", "--rubrics", f"{EX}/triage_paper.json", "--responses", str(p)]) == 2
    assert "RuleVerifier grades text" in capsys.readouterr().err


def test_registries_and_hooks():
    assert {"rule", "sim"} <= set(rubric_cli.VERIFIERS) and "sim" in rubric_cli.PROPOSERS
    p = argparse.ArgumentParser()
    rubric_cli._score_flags(p)
    ns = p.parse_args(["--rubrics", "r", "--responses", "x"])
    assert rubric_cli.make_verifier(ns).name == "rule"
    ns.judge = "chase.rubric_cli:_rule_verifier"  # module:factory form, called as factory(options)
    assert rubric_cli.make_verifier(ns).name == "rule"
    ns.judge_arg = ["a=1"]
    with pytest.raises(ValueError, match="no options"):
        rubric_cli.make_verifier(ns)
    ns.judge_arg = None
    ns.judge = "nope"
    with pytest.raises(ValueError, match="unknown verifier"):
        rubric_cli.make_verifier(ns)


def test_sim_export_refine_and_score_through_the_cli(tmp_path, capsys):
    world = ["--world-arg", "n_prompts=3", "--world-arg", "world_seed=5"]
    assert rubric_cli.main(["sim-export", "--out", str(tmp_path), "--pool-mode", "4-great-pairs", *world]) == 0
    capsys.readouterr()
    init = load_rubrics(tmp_path / "initial_rubrics.json")
    assert [r.prompt for r in init] == ["case-000", "case-001", "case-002"]
    pools = read_jsonl(tmp_path / "pools.jsonl")
    assert len(pools) == 3 and len(pools[0]["responses"]) == 16
    args = ["refine", "--rubrics", str(tmp_path / "initial_rubrics.json"), "--pools", str(tmp_path / "pools.jsonl")]
    args += ["--judge", "sim", "--proposer", "sim", "--pool-mode", "4-great-pairs", "--quiet", *world]
    args += ["--out", str(tmp_path / "r.json"), "--log", str(tmp_path / "log.jsonl")]
    assert rubric_cli.main(args) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["iterations"] == 12 and s["failures"] == 0 and s["status_counts"]["accepted"] > 0
    refined = load_rubrics(tmp_path / "r.json")
    assert [r.rubric for r in refined] != [r.rubric for r in init]
    assert rubric_cli.main(args) == 0 and json.loads(capsys.readouterr().out)["resumed_iterations"] == 12
    resp = tmp_path / "resp.jsonl"
    resp.write_text(
        "".join(
            json.dumps({"prompt": f"case-{p['prompt_index']:03d}", "response": p["responses"][0]}) + "\n" for p in pools
        )
    )
    assert (
        rubric_cli.main(
            ["score", "--rubrics", str(tmp_path / "r.json"), "--responses", str(resp), "--judge", "sim", *world]
        )
        == 0
    )
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(r["score"] is not None and 0 <= r["score"] <= 1 for r in rows)


def test_sim_verifier_takes_a_halo_option():
    from sim.rubric_world import Halo

    v = rubric_cli._sim_verifier({"halo": 0.3, "n_prompts": 2})
    assert v.config.halo == Halo(0.3)
    v = rubric_cli._sim_verifier({"halo": {"strength": 0.5, "trigger": ["signature_phrase"]}, "n_prompts": 2})
    assert v.config.halo == Halo(0.5, ("signature_phrase",))
    for bad in (1.5, {"strength": 0.2, "trigger": ["no_such_property"]}, {"bogus": 1}):
        with pytest.raises(ValueError, match="bad halo"):
            rubric_cli._sim_verifier({"halo": bad, "n_prompts": 2})
