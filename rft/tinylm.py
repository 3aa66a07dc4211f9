"""An offline tiny causal LM: a locally trained tokenizer, a Qwen2-style config, pretraining, safetensors I/O.

Nothing here touches a hub. The tokenizer is a byte-level BPE trained with ``tokenizers`` on the corpus
itself (so every string encodes, no UNK), the model is a ``Qwen2ForCausalLM`` built from a config of a
chosen size, and :func:`save_tinylm` writes ``model.safetensors`` + ``tokenizer.json`` + a ChatML chat
template, so ``AutoModelForCausalLM.from_pretrained(path)`` and TRL's reference-model rebuild
(``create_model_from_path``, used when ``beta > 0``) both work from the saved path. Weights are never pickled.

Dtypes (deliberate): weights are float32 everywhere. On CPU there is no faster choice; on a GPU the models
here (0.1M-30M parameters) are latency-bound, TF32 matmuls already make fp32 cheap, and a probe on this
project saw bf16 sampling from a freshly initialized tiny model hit a CUDA device-side assert in the
multinomial (non-finite probabilities). Pretraining may use bf16 *autocast* (fp32 master weights) via
``PretrainConfig.amp_bf16``; the saved weights stay fp32.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from rewards.io import write_json
from rft.chat import CHATML_TEMPLATE as CHAT_TEMPLATE

PAD = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END)


@dataclass(frozen=True)
class TinyLMConfig:
    """Size of a Qwen2-style decoder. ``vocab_size`` is taken from the trained tokenizer.

    hidden_size: model width; num_layers: decoder blocks; num_heads / num_kv_heads: attention heads (GQA when
    kv < heads); intermediate_size: MLP width; max_position: longest sequence (prompt + completion);
    tie_embeddings: share input and output embeddings (halves the parameters of a tiny model); seed: init seed.
    """

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 192
    max_position: int = 512
    tie_embeddings: bool = True
    seed: int = 0


# Named sizes; parameter counts assume a ~1k-token vocabulary.
SIZES: dict[str, TinyLMConfig] = {
    "nano": TinyLMConfig(64, 2, 4, 2, 192),  # ~0.15M: tests
    "micro": TinyLMConfig(128, 3, 4, 2, 384),  # ~0.7M: the CPU experiment
    "small": TinyLMConfig(256, 6, 8, 4, 768),  # ~4.5M
    "base": TinyLMConfig(512, 8, 8, 4, 1536),  # ~25M: GPU
}


@dataclass(frozen=True)
class PretrainConfig:
    """Next-token pretraining on (prompt, completion) pairs; the loss covers completion tokens only, so the model
    learns p(completion | prompt), i.e. the base policy, not the prompt distribution.

    epochs: passes over the corpus; batch_size: sequences per step; lr: peak AdamW learning rate (linear warmup
    over ``warmup_frac`` of the steps, then cosine to 10%); weight_decay; grad_clip: max grad norm; seed: data
    order; device: "cpu", "cuda" or "auto"; amp_bf16: bf16 autocast on CUDA (weights stay fp32);
    max_steps: stop early (0 = no limit).
    """

    epochs: int = 3
    batch_size: int = 32
    lr: float = 3e-3
    warmup_frac: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp_bf16: bool = False
    max_steps: int = 0


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def train_tokenizer(texts: Sequence[str], vocab_size: int = 1024, min_frequency: int = 2, mode: str = "phrase"):
    """Byte-level BPE trained on ``texts`` (no download), wrapped as a transformers fast tokenizer.

    ``mode="word"``: the usual GPT-2-style split (merges stay inside words). ``mode="phrase"``: text is split
    only after sentence punctuation (``.!?;:`` and newlines), so merges may span spaces and frequent phrases
    become single tokens. Why: generation cost is per token and these CPUs are shared; on the triage corpus a
    1024-token phrase vocabulary needs ~23 tokens per completion against ~45 for words, and every string
    still round-trips exactly (byte level, no UNK).

    Returns a ``PreTrainedTokenizerFast`` with pad = ``<|endoftext|>``, eos = ``<|im_end|>`` (generation stops at
    the end of the assistant turn), left padding (what TRL's generation requires) and the ChatML template.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if not texts:
        raise ValueError("train_tokenizer: empty corpus")
    if mode not in ("phrase", "word"):
        raise ValueError(f"tokenizer mode must be 'phrase' or 'word', got {mode!r}")
    tok = Tokenizer(models.BPE())
    if mode == "word":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(r"[.!?;:\n]"), behavior="merged_with_previous"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=IM_END,
        additional_special_tokens=[IM_START],
        padding_side="left",
        model_max_length=4096,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(cfg: TinyLMConfig, tokenizer):
    """A freshly initialized float32 ``Qwen2ForCausalLM`` sized by ``cfg`` (init seeded by ``cfg.seed`` without
    touching the caller's global torch RNG)."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if cfg.hidden_size % cfg.num_heads or cfg.num_heads % cfg.num_kv_heads:
        raise ValueError(f"TinyLMConfig: heads must divide hidden_size and kv heads must divide heads: {cfg}")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=cfg.max_position,
        tie_word_embeddings=cfg.tie_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        use_cache=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = Qwen2ForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    return model


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def encode_pairs(tokenizer, prompts: Sequence[str], completions: Sequence[str], max_length: int):
    """Tokenize (prompt_text, completion_text) pairs; the completion gets ``<|im_end|>`` appended.

    Returns a list of (input_ids, n_prompt_tokens) with input_ids truncated to ``max_length``.
    """
    out = []
    for p, c in zip(prompts, completions, strict=True):
        p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(c + IM_END, add_special_tokens=False)["input_ids"]
        ids = (p_ids + c_ids)[:max_length]
        out.append((ids, len(p_ids)))
    return out


def _batch(encoded, idx, pad_id: int, device):
    """Right-padded batch: input_ids, attention_mask, labels (prompt and pad positions = -100)."""
    rows = [encoded[i] for i in idx]
    L = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), L), dtype=torch.long)
    labels = torch.full((len(rows), L), -100, dtype=torch.long)
    for r, (ids, n_prompt) in enumerate(rows):
        t = torch.tensor(ids, dtype=torch.long)
        input_ids[r, : len(ids)] = t
        attn[r, : len(ids)] = 1
        labels[r, n_prompt : len(ids)] = t[n_prompt:]
    return input_ids.to(device), attn.to(device), labels.to(device)


def _lr_at(cfg: PretrainConfig, step: int, total: int) -> float:
    """Linear warmup over ``warmup_frac`` of the ``total`` steps, then cosine down to 10% of ``cfg.lr``."""
    warmup = max(1, int(cfg.warmup_frac * total))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def _optimizer_step(model, opt, loss, grad_clip: float) -> float:
    """Backward, clip, step; the loss as a float."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return float(loss.detach())


def pretrain(
    model, tokenizer, prompts: Sequence[str], completions: Sequence[str], cfg: PretrainConfig, progress: bool = True
) -> dict:
    """Train ``model`` in place on completion tokens given prompts. Returns a history dict:
    ``steps`` (list[int]), ``loss`` (list[float], per step, nats/token), ``tokens`` (completion tokens seen),
    ``seconds``, ``tokens_per_s``, ``final_loss`` (mean of the last 10% of steps)."""
    device = resolve_device(cfg.device)
    model.to(device)
    model.train()
    encoded = encode_pairs(tokenizer, prompts, completions, model.config.max_position_embeddings)
    n = len(encoded)
    if n == 0:
        raise ValueError("pretrain: empty corpus")
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(cfg.seed)
    hist = {"steps": [], "loss": [], "tokens": 0}
    t0 = time.perf_counter()
    step = 0
    use_amp = cfg.amp_bf16 and device.type == "cuda"
    bar = tqdm(total=total, desc="pretrain", disable=not progress, dynamic_ncols=True)
    while step < total:
        order = torch.randperm(n, generator=gen).tolist()
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            input_ids, attn, labels = _batch(encoded, idx, tokenizer.pad_token_id, device)
            for g in opt.param_groups:
                g["lr"] = _lr_at(cfg, step, total)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = model(input_ids=input_ids, attention_mask=attn, labels=labels).loss
            lv = _optimizer_step(model, opt, loss, cfg.grad_clip)
            if not math.isfinite(lv):
                raise FloatingPointError(f"pretrain: non-finite loss {lv} at step {step}")
            hist["steps"].append(step)
            hist["loss"].append(lv)
            hist["tokens"] += int((labels != -100).sum())
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{lv:.3f}")
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    model.eval()
    tail = hist["loss"][-max(1, len(hist["loss"]) // 10) :]
    hist.update(seconds=secs, tokens_per_s=hist["tokens"] / max(secs, 1e-9), final_loss=sum(tail) / len(tail))
    return hist


WEIGHTS = ("model.safetensors", "model.safetensors.index.json")  # one file, or the index of a sharded save


def is_saved_model(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a model's config AND its weights (a half-written save is not)."""
    path = Path(path)
    return (path / "config.json").is_file() and any((path / w).is_file() for w in WEIGHTS)


def save_tinylm(model, tokenizer, path: str | Path, meta: dict | None = None) -> Path:
    """Write model.safetensors, config.json, generation_config.json, tokenizer files and tinylm.json (meta).

    Atomic: everything is written into a temporary folder beside ``path``, which is then renamed to ``path``
    (an existing model there is moved aside first and removed after), so a killed save never leaves a folder
    that looks like a model."""
    import shutil
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "tinylm.json", meta or {})
        bad = [p.name for p in tmp.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pth")]
        if bad:  # never ship pickles: loading them executes code
            raise RuntimeError(f"save_tinylm: pickle files written to {path}: {bad}")
        tmp.chmod(0o755)  # mkdtemp makes it private
        old = tmp.with_suffix(".old") if path.exists() else None
        if old is not None:
            path.rename(old)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


def load_tinylm(path: str | Path, device: str = "cpu"):
    """Load (model, tokenizer) saved by :func:`save_tinylm` (or any HF causal LM path / hub id) in float32,
    from safetensors only. The tokenizer is set to left padding, as TRL generation needs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    if Path(path).is_dir() and not is_saved_model(path):
        raise FileNotFoundError(
            f"{path}: not a saved model (config.json and {WEIGHTS[0]} are both needed; an interrupted save?)"
        )
    if (Path(path) / "tinylm.json").exists():
        # Ours: load tokenizer.json as it is. AutoTokenizer would pick the class from config.json's model_type
        # (Qwen2Tokenizer) and REPLACE our pre-tokenizer with Qwen2's regex split, silently changing every
        # token id of the prompts (seen with transformers 5.24: the policy then ignored the case description).
        tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    else:
        tok = AutoTokenizer.from_pretrained(str(path))
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, use_safetensors=True)
    return model.to(resolve_device(device)), tok


@torch.no_grad()
def sample(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 128, temperature: float = 1.0, seed: int = 0
) -> list[str]:
    """Sample one completion per prompt text (already chat-formatted), decoded without special tokens."""
    device = next(model.parameters()).device
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
