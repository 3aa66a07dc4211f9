"""Bring your own data: `chase rft train` on a user's rubric file, with a tiny in-process model, the oracle judge
behind the OpenAI-compatible test server as the proxy, and the gold rubric's rule checks as the evaluation."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from rewards.io import read_jsonl  # noqa: E402
from rft.judge_server import JudgeServer, OracleBackend  # noqa: E402

SMOKE = "rft/configs/smoke.yaml"
WORDS = ["rest", "water", "doctor", "ice", "sleep", "call"]


def _data(root):
    """8 prompts: the proxy quotes keywords (the oracle checks them), the gold has rule checks."""
    prompts = [f"Question {i}: what should I do about problem {i}?" for i in range(8)]
    initial = [
        {"id": f"q{i}", "prompt": p, "rubrics": [{"criterion": f"Mentions '{w}'", "weight": 1} for w in WORDS[:3]]}
        for i, p in enumerate(prompts)
    ]
    gold = [
        {"prompt": p, "rubrics": [{"criterion": "says call", "weight": 2, "check": {"any": ["call"]}},
                                  {"criterion": "short", "weight": 1, "check": {"max_words": 30}}]}
        for p in prompts
    ]  # fmt: skip
    (root / "initial.jsonl").write_text("".join(json.dumps(r) + "\n" for r in initial))
    (root / "gold.json").write_text(json.dumps(gold))
    return prompts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from rft.tinylm import TinyLMConfig, build_model, save_tinylm, train_tokenizer

    root = tmp_path_factory.mktemp("byod")
    prompts = _data(root)
    tok = train_tokenizer(prompts + [" ".join(WORDS)] * 4, vocab_size=300, mode="word")
    save_tinylm(build_model(TinyLMConfig(32, 1, 2, 1, 64, max_position=256), tok), tok, root / "lm")
    return root


def test_train_on_your_own_rubric_file_with_the_oracle_judge(tiny, capsys):
    from chase.rft_cli import main

    run = tiny / "run"
    with JudgeServer(OracleBackend()) as srv:
        argv = ["train", "--config", SMOKE, "--model_name_or_path", str(tiny / "lm"), "--output_dir", str(run)]
        argv += ["--dataset", str(tiny / "initial.jsonl"), "--gold_rubrics", str(tiny / "gold.json")]
        argv += ["--eval_fraction", "0.25", "--split_seed", "1", "--judge", "openai", "--judge_base_url", srv.base_url]
        argv += ["--max_steps", "2", "--eval_every", "1", "--save_strategy", "no", "--max_completion_length", "12"]
        assert main(argv) == 0, capsys.readouterr().err
        assert srv.n_requests > 0  # the proxy went through the judge server
        assert main(["winrate", str(run), "--base_url", srv.base_url]) == 0
    assert main(["winrate", str(run), "--gold", "--steps", "0,2"]) == 0
    win = json.loads((run / "winrate.json").read_text())["rows"]
    # step 0 is the base policy against itself: identical completions, the oracle says A in both orders
    assert [w["step"] for w in win] == [0, 1, 2] and win[0]["rate"] == 0.5 and win[0]["agree"] == 0.0
    assert all(w["n"] == 2 * 4 and w["unscored"] == 0 for w in win)  # 2 held-out prompts x 4 samples
    # the gold as the pairwise judge agrees with the gold rubric's rule checks, recomputed here
    by_gold = json.loads((run / "winrate_gold.json").read_text())["rows"]
    assert [w["step"] for w in by_gold] == [0, 2] and by_gold[0]["rate"] == 0.5 and by_gold[0]["agree"] == 0.0
    done = read_jsonl(run / "eval_completions.jsonl")

    def gold(text):
        return (2 * ("call" in text.lower().split()) + (len(text.split()) <= 30)) / 3

    base = [gold(r["completion"]) for r in done if r["step"] == 0]
    last = [gold(r["completion"]) for r in done if r["step"] == 2]
    expect = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in zip(last, base, strict=True)) / len(base)
    assert by_gold[1]["rate"] == pytest.approx(expect) and by_gold[1]["n"] == len(base) == 8
    rows = read_jsonl(run / "eval_metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert all(r["proxy_unscored"] == 0 and r["gold_unscored"] == 0 for r in rows)
    assert len(rows[0]["gold_pass"]) == 2  # the gold file's two criteria, not the proxy's three
    cfg = json.loads((run / "run_config.json").read_text())
    assert (cfg["n_train_prompts"], cfg["n_eval_prompts"]) == (6, 2) and cfg["proxy_rubric_key"] == "dataset:initial"
    held = {s["case_id"] for s in read_jsonl(run / "eval_samples.jsonl")}
    assert held and held <= {f"q{i}" for i in range(8)} and len(held) <= 2


def test_a_lora_run_resumes_from_its_adapter_checkpoint(tiny, capsys):
    """peft checkpoints hold adapter_model.safetensors, not model.safetensors: still a checkpoint to resume."""
    from chase.rft_cli import main

    run = tiny / "lora"
    argv = ["train", "--config", SMOKE, "--model_name_or_path", str(tiny / "lm"), "--output_dir", str(run)]
    argv += ["--dataset", str(tiny / "gold.json"), "--judge", "rule", "--lora_r", "4", "--eval_every", "2"]
    argv += ["--max_completion_length", "12", "--save_steps", "2"]
    assert main([*argv, "--max_steps", "2"]) == 0, capsys.readouterr().err
    assert (run / "checkpoint-2" / "adapter_model.safetensors").is_file()
    assert main([*argv, "--max_steps", "4"]) == 0, capsys.readouterr().err
    assert json.loads((run / "run_config.json").read_text())["resumed_from"].endswith("checkpoint-2")
    assert [r["step"] for r in read_jsonl(run / "eval_metrics.jsonl")] == [0, 2, 4]


def test_bad_dataset_settings_are_one_line_errors(tiny, capsys):
    from chase.rft_cli import main

    base = ["train", "--config", SMOKE, "--model_name_or_path", str(tiny / "lm"), "--output_dir", str(tiny / "x")]
    cases = [
        (["--dataset", str(tiny / "nope.json")], "dataset: no such file"),
        (["--dataset", str(tiny / "initial.jsonl"), "--proxy", "refined"], "proxy: with a dataset"),
        (["--dataset", str(tiny / "initial.jsonl"), "--eval_fraction", "1.5"], "eval_fraction"),
        (
            ["--dataset", str(tiny / "gold.json"), "--gold_rubrics", str(tiny / "initial.jsonl"), "--judge", "x"],
            "judge",
        ),
    ]
    for extra, words in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        # (transformers prints its own FutureWarning about gradient_checkpointing once per process: not ours)
        ours = [line for line in err.splitlines() if line.startswith("chase rft train: error: ")]
        assert len(ours) == 1 and words in ours[0] and "Traceback" not in err, err


def test_bad_winrate_arguments_are_one_line_errors(tiny, capsys):
    from chase.rft_cli import main

    run = str(tiny / "run")  # written by the first test of this module
    cases = [
        ([run], "one of the arguments --base_url --gold is required"),
        ([run, "--gold", "--base_url", "http://127.0.0.1:9/v1"], "not allowed with argument"),
        ([run, "--gold", "--steps", "a,b"], "comma-separated step numbers"),
        ([run, "--gold", "--steps", "-1"], "step numbers >= 0"),
        ([run, "--gold", "--steps", "99"], "no evaluation at step(s) [99]"),
        ([str(tiny / "nowhere"), "--gold"], "eval_completions.jsonl: missing or empty"),
    ]
    for extra, words in cases:
        with pytest.raises(SystemExit) as e:
            main(["winrate", *extra])
        err = capsys.readouterr().err
        ours = [line for line in err.splitlines() if line.startswith("chase rft winrate: error: ")]
        assert e.value.code == 2 and len(ours) == 1 and words in ours[0] and "Traceback" not in err, err
