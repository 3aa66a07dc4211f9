"""The paper code's own files: rubric records with ``criteria`` / ``local_id`` / totals, and scored-responses
files (``results[].scored_responses[]``) read as refinement pools."""

import json

import pytest

from chase import rubric_cli
from chase.rubric_files import read_pools
from rewards.formats import load_rubrics, save_rubrics
from rewards.rubric import RubricFormatError
from tests.test_rubric_cli import EX, AddPhraseProposer

RUBRICS = f"{EX}/paper_code_rubrics.json"
SCORED = f"{EX}/paper_code_scored.json"


def _record(**kw):
    crit = [{"local_id": 1, "criterion": "a", "weight": 2}, {"local_id": 2, "criterion": "b", "weight": 1}]
    return {"id": "p0", "prompt": "q", "criteria": crit, "total_criteria": 2, "total_weight": 3} | kw


def test_paper_code_rubrics_read_like_our_format(tmp_path):
    ours = load_rubrics(f"{EX}/triage_paper.json")
    theirs = load_rubrics(RUBRICS)
    assert [r.prompt for r in theirs] == [r.prompt for r in ours]
    assert [r.rubric for r in theirs] == [r.rubric for r in ours]  # same criteria, weights and checks
    assert theirs[0].meta["extra"] == {"id": "triage-0"}  # totals are consumed, not carried as extras
    out = save_rubrics(tmp_path / "back.json", theirs)
    rec = json.loads(out.read_text())[0]
    assert "rubrics" in rec and "criteria" not in rec and "total_weight" not in rec
    assert [r.rubric for r in load_rubrics(out)] == [r.rubric for r in ours]


def test_paper_code_jsonl_records(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text(json.dumps(_record()) + "\n" + json.dumps(_record(prompt="q2", total_weight=3.0)) + "\n")
    recs = load_rubrics(p)
    assert [c.weight for c in recs[1].rubric.criteria] == [2.0, 1.0]


@pytest.mark.parametrize(
    "record, field, words",
    [
        (_record(total_criteria=3), "total_criteria", "has 2 criteria"),
        (_record(total_weight=4), "total_weight", "sum to 3"),
        (_record(criteria=[{"local_id": 1, "criterion": "a", "weight": 1}] * 2, total_weight=2), "criteria", "repeat"),
        (
            _record(criteria=[{"local_id": 1, "weight": 1}], total_criteria=1, total_weight=1),
            "criteria[0].criterion",
            "",
        ),
        (_record(criteria=[]), "criteria", "non-empty"),
    ],
)
def test_bad_paper_code_records_name_file_record_field(tmp_path, record, field, words):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"metadata": {}, "rubrics": [_record(prompt="ok"), record]}))
    with pytest.raises(RubricFormatError) as e:
        load_rubrics(p)
    assert (e.value.path, e.value.record, e.value.field) == (str(p), 1, field)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_container_without_a_rubric_list_is_refused(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"metadata": {}, "rules": []}))
    with pytest.raises(RubricFormatError, match="list under 'rubrics'"):
        load_rubrics(p)


def test_scored_responses_load_as_pools():
    records = load_rubrics(RUBRICS)
    pools = read_pools(SCORED, records)
    results = json.load(open(SCORED))["scored_responses"]["results"]
    assert pools == [[s["response"] for s in r["scored_responses"]] for r in results]
    assert [len(p) for p in pools] == [4, 2]  # the second result names its prompt by id only


def test_scored_results_at_the_top_level(tmp_path):
    records = load_rubrics(RUBRICS)
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"results": [{"id": "x", "prompt": records[1].prompt, "scored_responses": []}]}))
    assert read_pools(str(p), records) == [[], []]


@pytest.mark.parametrize(
    "result, field",
    [
        ({"prompt_index": 0, "scored_responses": "x"}, "scored_responses"),
        ({"prompt_index": 0, "scored_responses": [{"score": 1}]}, "scored_responses[0]"),
        ({"prompt_index": 0, "scored_responses": [{"response": "r", "score": "high"}]}, "scored_responses[0].score"),
        ({"id": "nobody", "scored_responses": []}, "id"),
        ({"prompt": "not in the rubric file", "scored_responses": []}, "prompt"),
    ],
)
def test_bad_scored_responses_name_file_record_field(tmp_path, result, field):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"results": [{"prompt_index": 1, "scored_responses": []}, result]}))
    with pytest.raises(RubricFormatError) as e:
        read_pools(str(p), load_rubrics(RUBRICS))
    assert (e.value.record, e.value.field) == (1, field)


def test_refine_cli_on_the_paper_code_files_matches_our_files(tmp_path, capsys):
    """Refining from the paper code's two files gives what refining from our format's files gives."""
    rubric_cli.register_proposer("add-phrase", lambda options: AddPhraseProposer())
    pools = tmp_path / "pools.jsonl"
    results = json.load(open(SCORED))["scored_responses"]["results"]
    pools.write_text(
        "".join(
            json.dumps({"prompt_index": i, "responses": [s["response"] for s in r["scored_responses"]]}) + "\n"
            for i, r in enumerate(results)
        )
    )
    outs = []
    for name, rubrics, pool in [("theirs", RUBRICS, SCORED), ("ours", f"{EX}/triage_paper.json", str(pools))]:
        args = ["refine", "--rubrics", rubrics, "--pools", pool, "--proposer", "add-phrase", "--rounds", "1"]
        assert rubric_cli.main([*args, "--quiet", "--out", str(tmp_path / f"{name}.json")]) == 0
        outs.append(json.loads(capsys.readouterr().out)["status_counts"])
    assert outs[0] == outs[1] and outs[0]["accepted"] >= 1
    theirs, ours = (load_rubrics(tmp_path / f"{n}.json") for n in ("theirs", "ours"))
    assert [r.rubric for r in theirs] == [r.rubric for r in ours]
