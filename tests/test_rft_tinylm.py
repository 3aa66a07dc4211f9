"""The offline tiny LM: tokenizer, Qwen2 config, pretraining, safetensors save/load, chat template."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rft.tinylm import (  # noqa: E402
    CHAT_TEMPLATE,
    PretrainConfig,
    TinyLMConfig,
    build_model,
    load_tinylm,
    pretrain,
    sample,
    save_tinylm,
    train_tokenizer,
)

TEXTS = [
    "The key symptom is severe headache. Order urgent MRI with venography.",
    "This is pulmonary embolism; start anticoagulation with apixaban!",
    "## Plan\nStay safe and informed!",
] * 20


@pytest.mark.parametrize("mode", ["phrase", "word"])
def test_tokenizer_round_trips(mode):
    tok = train_tokenizer(TEXTS, vocab_size=400, mode=mode)
    for t in [*TEXTS[:3], "unseen wörds ✓ 123"]:
        assert tok.decode(tok(t, add_special_tokens=False)["input_ids"]) == t
    assert tok.padding_side == "left" and tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.chat_template == CHAT_TEMPLATE
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    if mode == "phrase":  # merges span spaces: far fewer tokens than words
        n = len(tok(TEXTS[0], add_special_tokens=False)["input_ids"])
        assert n < len(TEXTS[0].split())


def test_pretrain_save_load_safetensors(tmp_path):
    torch.set_num_threads(1)
    tok = train_tokenizer(TEXTS, vocab_size=300)
    model = build_model(TinyLMConfig(32, 1, 2, 1, 64, seed=1), tok)
    again = build_model(TinyLMConfig(32, 1, 2, 1, 64, seed=1), tok)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    p = tok.apply_chat_template([{"role": "user", "content": "case"}], add_generation_prompt=True, tokenize=False)
    hist = pretrain(
        model, tok, [p] * 60, TEXTS, PretrainConfig(epochs=8, batch_size=16, lr=1e-2, device="cpu"), progress=False
    )
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    out = save_tinylm(model, tok, tmp_path / "m", {"note": "test"})
    names = {f.name for f in out.iterdir()}
    assert "model.safetensors" in names and not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    m2, t2 = load_tinylm(out)
    assert m2.dtype == torch.float32
    sd1, sd2 = model.state_dict(), m2.state_dict()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd2)
    assert t2.padding_side == "left" and t2.eos_token_id == tok.eos_token_id
    for t in [p, *TEXTS[:3], "Case 048. A 45-year-old woman reports severe headache."]:  # same token ids after reload
        assert t2(t, add_special_tokens=False)["input_ids"] == tok(t, add_special_tokens=False)["input_ids"]
    s = sample(m2, t2, [p] * 2, max_new_tokens=30, seed=0)
    assert s == sample(m2, t2, [p] * 2, max_new_tokens=30, seed=0)  # seeded, and the global RNG is untouched


def test_save_is_atomic_and_a_half_written_folder_is_not_a_model(tmp_path, monkeypatch):
    from rft.tinylm import is_saved_model

    tok = train_tokenizer(TEXTS, vocab_size=300)
    model = build_model(TinyLMConfig(32, 1, 2, 1, 64, seed=1), tok)
    save_tinylm(model, tok, tmp_path / "m", {"v": 1})

    def killed(*a, **k):  # the process dies after the weights, before the tokenizer
        raise KeyboardInterrupt

    monkeypatch.setattr(type(tok), "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        save_tinylm(build_model(TinyLMConfig(32, 1, 2, 1, 64, seed=2), tok), tok, tmp_path / "m", {"v": 2})
    with pytest.raises(KeyboardInterrupt):
        save_tinylm(model, tok, tmp_path / "fresh")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp folder left, no "fresh" model
    m2, _ = load_tinylm(tmp_path / "m")  # the old model is intact
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), m2.state_dict().values(), strict=True))

    half = tmp_path / "half"  # what a non-atomic save leaves when killed: config.json, no weights
    half.mkdir()
    model.config.to_json_file(half / "config.json")
    assert is_saved_model(tmp_path / "m") and not is_saved_model(half)
    with pytest.raises(FileNotFoundError, match="not a saved model"):
        load_tinylm(half)
    save_tinylm(model, tok, half)  # a save over it replaces it
    assert is_saved_model(half) and sorted(p.name for p in tmp_path.iterdir()) == ["half", "m"]
