"""Bring-your-own-data: rubric files become GRPO rows, split by prompt; bad input names file/record/field."""

import json

import pytest

from rewards.rubric import RubricFormatError
from rft.data import DataSpec, load_rubric_dataset, split_by_prompt

EX = "examples/real_rft"


def test_the_shipped_example_splits_by_prompt_and_joins_the_gold():
    split = load_rubric_dataset(DataSpec(f"{EX}/prompts.json", gold_rubrics=f"{EX}/gold.json", split_seed=3))
    assert (len(split.train), len(split.eval)) == (45, 15) and not split.gold_is_proxy and split.format == "paper"
    train_p = {r["prompt"][0]["content"] for r in split.train}
    assert train_p.isdisjoint(r["prompt"][0]["content"] for r in split.eval)
    row = split.eval[0]
    gold = json.loads(row["gold_rubric"])
    assert row["case_id"] in {r["id"] for r in json.load(open(f"{EX}/gold.json"))}
    assert any(c.get("check") for c in gold["criteria"]) and row["rubric"] != row["gold_rubric"]
    again = load_rubric_dataset(DataSpec(f"{EX}/prompts.json", gold_rubrics=f"{EX}/gold.json", split_seed=3))
    assert again == split  # seeded
    other = load_rubric_dataset(DataSpec(f"{EX}/prompts.json", split_seed=4))
    assert [r["case_id"] for r in other.eval] != [r["case_id"] for r in split.eval] and other.gold_is_proxy


def test_duplicate_prompts_stay_on_one_side():
    prompts = ["a", "b", "a", "c", "b", "d"]
    for seed in range(20):
        train, held = split_by_prompt(prompts, 0.5, seed)
        assert sorted(train + held) == list(range(6))
        assert {prompts[i] for i in train}.isdisjoint(prompts[i] for i in held)
    with pytest.raises(ValueError, match="at least 2"):
        split_by_prompt(["a", "a"], 0.5, 0)


def test_healthbench_and_references():
    ex = "examples/rubrics/healthbench"
    spec = DataSpec(f"{ex}_sample.jsonl", references=f"{ex}_responses.jsonl", eval_fraction=0.5)
    split = load_rubric_dataset(spec)
    assert split.format == "healthbench"
    rows = split.train + split.eval
    assert all(r["reference"] for r in rows) and all(isinstance(r["prompt"], list) for r in rows)


def test_paper_code_rubrics_as_a_dataset():
    split = load_rubric_dataset(DataSpec("examples/rubrics/paper_code_rubrics.json", eval_fraction=0.5))
    assert sorted(r["case_id"] for r in split.train + split.eval) == ["triage-0", "triage-1"]


def test_a_gold_file_missing_a_prompt_is_named(tmp_path):
    gold = json.load(open(f"{EX}/gold.json"))[:-1]
    p = tmp_path / "gold.json"
    p.write_text(json.dumps(gold))
    with pytest.raises(RubricFormatError, match=r"gold\.json: no gold rubric for dataset records \[59\]"):
        load_rubric_dataset(DataSpec(f"{EX}/prompts.json", gold_rubrics=str(p)))


def test_bad_settings():
    with pytest.raises(ValueError, match="eval_fraction"):
        DataSpec("x", eval_fraction=1.0)
    with pytest.raises(ValueError, match="dataset_format"):
        DataSpec("x", format="csv")
