"""Pretrain the tiny LM on a triage task's base corpus and check that it samples like the base policy.

    meta = pretrain_on_task("runs/rft/task", "runs/rft/tinylm", TaskPretrainConfig(size="nano", epochs=3))

``chase rft pretrain`` is this entry with flags generated from :class:`TaskPretrainConfig`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from rewards.io import write_json

__all__ = ["TaskPretrainConfig", "pretrain_on_task"]


@dataclass(frozen=True)
class TaskPretrainConfig:
    """How the tiny LM is pretrained on the task's base corpus and how its fidelity is checked.

    size:           model size (``rft.tinylm.SIZES``).
    tokenizer:      byte-level BPE mode: 'phrase' (merges may span spaces) or 'word'.
    vocab_size:     tokenizer vocabulary size.
    epochs:         passes over the corpus.
    batch_size:     sequences per step.
    lr:             peak AdamW learning rate.
    device:         'cpu', 'cuda' or 'auto'.
    max_docs:       use the first N corpus documents (0 = all).
    amp_bf16:       bf16 autocast on CUDA (weights stay fp32).
    seed:           model init, data order and fidelity sampling seed.
    eval_cases:     held-out cases sampled for the fidelity check.
    eval_samples:   samples per fidelity case.
    max_new_tokens: longest fidelity sample.
    """

    size: str = field(default="micro", metadata={"choices": ("nano", "micro", "small", "base")})
    tokenizer: Literal["phrase", "word"] = "phrase"
    vocab_size: int = 1024
    epochs: int = 2
    batch_size: int = 32
    lr: float = 3e-3
    device: str = "auto"
    max_docs: int = 0
    amp_bf16: bool = False
    seed: int = 0
    eval_cases: int = 16
    eval_samples: int = 16
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.vocab_size < 1:
            raise ValueError("epochs, batch_size and vocab_size must be >= 1")
        if self.eval_cases < 1 or self.eval_samples < 1:
            raise ValueError("eval_cases and eval_samples must be >= 1")


def _fidelity(model, tok, task, cfg: TaskPretrainConfig) -> tuple[dict, list[dict]]:
    """Per-property inclusion rates of the model's samples on held-out-from-GRPO cases (read off the text with
    the task's checks) vs the base model's probabilities; and a few samples per case."""
    import numpy as np

    from rft.tasks.triage import PROPERTY_NAMES, detect
    from rft.tinylm import sample

    recs = task.split("eval")[: cfg.eval_cases]  # all cases were in the corpus; these are never GRPO prompts
    freq, gen_texts = [], []
    for i, r in enumerate(recs):
        p = tok.apply_chat_template(
            [{"role": "user", "content": r.case.prompt}], add_generation_prompt=True, tokenize=False
        )
        texts = sample(model, tok, [p] * cfg.eval_samples, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + i)
        gen_texts.append({"case_id": r.case.case_id, "prompt": r.case.prompt, "samples": texts[:3]})
        freq.append(np.mean([detect(r.case, t) for t in texts], axis=0))
    lm_rate = np.mean(freq, axis=0)
    base_rate = np.mean([r.base_probs for r in recs], axis=0)
    fidelity = {
        "properties": list(PROPERTY_NAMES),
        "lm_rate": lm_rate.tolist(),
        "base_rate": base_rate.tolist(),
        "mean_abs_diff": float(np.abs(lm_rate - base_rate).mean()),
        "n_cases": len(recs),
        "samples_per_case": cfg.eval_samples,
    }
    return fidelity, gen_texts


def pretrain_on_task(
    task_dir: str | Path, out: str | Path, config: TaskPretrainConfig | None = None, progress: bool = True
) -> dict:
    """Train a tokenizer and a Qwen2-style model on the task's base corpus, save it (safetensors) to ``out``,
    and measure how close its outputs are to the base policy (:func:`_fidelity`). Returns the report (also in
    ``out/tinylm.json``; samples in ``out/samples.json``)."""
    from rft.tasks.triage import load_task
    from rft.tinylm import SIZES, PretrainConfig, build_model, n_params, pretrain, resolve_device, save_tinylm
    from rft.tinylm import train_tokenizer as make_tokenizer

    cfg = config or TaskPretrainConfig()
    task = load_task(task_dir)
    msgs, comps = task.corpus()
    if cfg.max_docs:
        msgs, comps = msgs[: cfg.max_docs], comps[: cfg.max_docs]
    t0 = time.perf_counter()
    # the tokenizer sees exactly what the model will: chat-formatted prompts and completions
    tok = make_tokenizer([m[0]["content"] for m in msgs] + comps, vocab_size=cfg.vocab_size, mode=cfg.tokenizer)
    tok_s = time.perf_counter() - t0
    prompts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in msgs]
    model_cfg = replace(SIZES[cfg.size], seed=cfg.seed)
    model = build_model(model_cfg, tok)
    pcfg = PretrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, device=cfg.device, amp_bf16=cfg.amp_bf16
    )
    hist = pretrain(model, tok, prompts, comps, pcfg, progress=progress)
    fidelity, gen_texts = _fidelity(model, tok, task, cfg)
    model.to("cpu")
    meta = {
        "size": cfg.size,
        "tokenizer": cfg.tokenizer,
        "config": asdict(model_cfg),
        "n_params": n_params(model),
        "vocab_size": len(tok),
        "pretrain": asdict(pcfg),
        "n_docs": len(comps),
        "tokenizer_seconds": tok_s,
        "final_loss": hist["final_loss"],
        "first_loss": hist["loss"][0],
        "steps": len(hist["loss"]),
        "tokens": hist["tokens"],
        "seconds": hist["seconds"],
        "tokens_per_s": hist["tokens_per_s"],
        "device": str(resolve_device(cfg.device)),
        "task_dir": str(task_dir),
        "fidelity": fidelity,
        "loss_curve": hist["loss"][:: max(1, len(hist["loss"]) // 200)],
    }
    save_tinylm(model, tok, out, meta)
    write_json(Path(out) / "samples.json", gen_texts)
    return meta
