"""Pretrain the tiny LM on a triage task's base corpus and check that it samples like the base policy."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from rewards.io import write_json


def pretrain_on_task(
    task_dir: str,
    out: str,
    size: str = "micro",
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 3e-3,
    vocab_size: int = 1024,
    tokenizer: str = "phrase",
    device: str = "auto",
    max_docs: int = 0,
    amp_bf16: bool = False,
    seed: int = 0,
    eval_cases: int = 16,
    eval_samples: int = 16,
    max_new_tokens: int = 128,
    progress: bool = True,
) -> dict:
    """Train a tokenizer and a Qwen2-style model on the task's base corpus, save it (safetensors) to ``out``,
    and measure how close its outputs are to the base policy: per-property inclusion rates of its samples
    (read off the text with the task's checks) vs the base model's probabilities. Returns the report."""
    from dataclasses import replace

    import numpy as np

    from rft.tasks.triage import PROPERTY_NAMES, detect, load_task
    from rft.tinylm import (
        SIZES,
        PretrainConfig,
        build_model,
        n_params,
        pretrain,
        resolve_device,
        sample,
        save_tinylm,
        train_tokenizer,
    )

    task = load_task(task_dir)
    msgs, comps = task.corpus()
    if max_docs:
        msgs, comps = msgs[:max_docs], comps[:max_docs]
    t0 = time.perf_counter()
    # the tokenizer sees exactly what the model will: chat-formatted prompts and completions
    tok = train_tokenizer([m[0]["content"] for m in msgs] + comps, vocab_size=vocab_size, mode=tokenizer)
    tok_s = time.perf_counter() - t0
    prompts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in msgs]
    cfg = replace(SIZES[size], seed=seed)
    model = build_model(cfg, tok)
    pcfg = PretrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device, amp_bf16=amp_bf16)
    hist = pretrain(model, tok, prompts, comps, pcfg, progress=progress)

    # fidelity to the base policy on held-out-from-GRPO cases (all cases were in the corpus)
    recs = task.split("eval")[:eval_cases]
    freq, gen_texts = [], []
    for i, r in enumerate(recs):
        p = tok.apply_chat_template(
            [{"role": "user", "content": r.case.prompt}], add_generation_prompt=True, tokenize=False
        )
        texts = sample(model, tok, [p] * eval_samples, max_new_tokens=max_new_tokens, seed=seed + i)
        gen_texts.append({"case_id": r.case.case_id, "prompt": r.case.prompt, "samples": texts[:3]})
        freq.append(np.mean([detect(r.case, t) for t in texts], axis=0))
    lm_rate = np.mean(freq, axis=0)
    base_rate = np.mean([r.base_probs for r in recs], axis=0)
    model.to("cpu")
    meta = {
        "size": size,
        "tokenizer": tokenizer,
        "config": asdict(cfg),
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
        "device": str(resolve_device(device)),
        "task_dir": str(task_dir),
        "fidelity": {
            "properties": list(PROPERTY_NAMES),
            "lm_rate": lm_rate.tolist(),
            "base_rate": base_rate.tolist(),
            "mean_abs_diff": float(np.abs(lm_rate - base_rate).mean()),
            "n_cases": len(recs),
            "samples_per_case": eval_samples,
        },
        "loss_curve": hist["loss"][:: max(1, len(hist["loss"]) // 200)],
    }
    save_tinylm(model, tok, out, meta)
    write_json(Path(out) / "samples.json", gen_texts)
    return meta
