"""The evaluation of a policy during GRPO, and the callback that runs it next to TRL's trainer.

:class:`RubricEvalCallback` runs at step 0 and every ``eval_every`` optimizer steps on held-out prompts: it
samples ``eval_samples`` completions per prompt from the current policy at temperature 1 (the policy itself, no
top-k/top-p, so the samples are draws from the distribution whose KL we report) and records

* gold reward (the hidden gold rubric) and proxy reward (the rubric being optimized), means and SEs;
* the **sequence-level** KL(pi || pi_ref) = E_{y~pi}[ sum_t log pi(y_t|.) - log pi_ref(y_t|.) ] over the
  completion tokens (EOS included), averaged over samples, with its SE. This is the KL of ``docs/theory.md``;
  TRL's logged ``kl`` is a per-token k3 estimate averaged over tokens, which is a different number;
* completion length (tokens, words), truncation rate, unscored counts, gold per-criterion pass rates;

and appends one JSON line per evaluation to ``<output_dir>/eval_metrics.jsonl`` (``train_log.jsonl`` holds
TRL's own logs, including our reward functions' ``log_metric`` values). On resume, evaluation rows after the
checkpoint's step are dropped and recomputed, so the file never holds two rows for one step.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rewards.io import read_jsonl, to_json, write_jsonl
from rft.reward import GoldReward, criterion_key

__all__ = [
    "EvalSpec",
    "RubricEvalCallback",
    "UnscoredGuard",
    "UnscoredStepsError",
    "completion_logprobs",
    "completion_mask",
    "evaluate_policy",
    "sequence_kl",
]


def _unwrap(model):
    while hasattr(model, "module"):
        model = model.module
    return model


@torch.no_grad()
def completion_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, n_prompt: int) -> torch.Tensor:
    """Per-token log-probabilities of the completion tokens: (B, T_completion).

    ``input_ids`` (B, n_prompt + T_completion): left-padded prompts then right-padded completions, as
    ``generate`` returns them. Position ids come from the attention mask (cumsum - 1), as ``generate`` makes
    them, so the log-probabilities are those of the sampling distribution.
    """
    pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos).logits
    logits = logits[:, n_prompt - 1 : -1].float()
    return torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, n_prompt:, None]).squeeze(-1)


def completion_mask(completion_ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """(B, T) 1 up to and including the first EOS (all ones if no EOS: the completion was truncated)."""
    is_eos = completion_ids == eos_id
    after = torch.cumsum(is_eos.int(), dim=1) - is_eos.int()  # number of EOS strictly before t
    return (after == 0).to(torch.float32)


def sequence_kl(policy_lp: torch.Tensor, ref_lp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) log pi(y) - log pi_ref(y) summed over completion tokens: an unbiased single-sample estimate of the
    sequence-level KL(pi || pi_ref) when y ~ pi."""
    return ((policy_lp - ref_lp) * mask).sum(dim=1)


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard error over evaluation SAMPLES of one run (NaN = unscored, left out); the spread over
    seeds is ``rewards.stats.interval``'s job."""
    x = np.asarray(x, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else float("nan")
    return float(x.mean()), se


@dataclass
class EvalSpec:
    """What the evaluation samples: ``rows`` (list of dataset rows: prompt, rubric, gold_rubric, case),
    ``samples`` per prompt, ``max_new_tokens``, ``seed``; ``batch_size`` sequences per generate call."""

    rows: list[dict]
    samples: int
    max_new_tokens: int
    seed: int
    batch_size: int = 128


@dataclass
class _Samples:
    """What the generation part of one evaluation collected, one entry per sampled completion (prompt-major)."""

    kls: list[float]
    lens: list[float]
    words: list[int]
    truncated: list[bool]
    prompts: list
    completions: list
    proxy_cols: list
    gold_cols: list
    keep: list[dict]
    every: list[dict]


def _sample_batch(model, ref_model, tokenizer, texts_in: list[str], seed: int, spec: EvalSpec, ref_bf16: bool):
    """Sample completions for the prompt texts ``texts_in`` with a fixed seed (the caller's RNG is untouched)
    and score them under the policy and the reference: (completion ids, token mask, sequence KLs)."""
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    enc = tokenizer(texts_in, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    n_prompt = enc["input_ids"].shape[1]
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=spec.max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=eos,
        )
    comp = out[:, n_prompt:]
    mask = completion_mask(comp, eos)
    attn = torch.cat([enc["attention_mask"], mask.long()], dim=1)
    lp = completion_logprobs(model, out, attn, n_prompt)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=ref_bf16):
        ref_lp = completion_logprobs(ref_model, out, attn, n_prompt)
    return comp, mask, sequence_kl(lp, ref_lp, mask)


def _generate(model, ref_model, tokenizer, spec: EvalSpec, proxy, gold, step: int, prompt_format: str, ref_bf16):
    """Every completion of one evaluation, in batches of ``spec.batch_size`` (seed per batch: ``spec.seed +
    1_000_003 * step + first index``, so an evaluation is reproducible whatever ran before it)."""
    eos = tokenizer.eos_token_id
    conversational = prompt_format == "conversational"
    texts_in = [
        tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False)
        if conversational
        else r["prompt"]
        for r in spec.rows
    ]
    flat = [(i, r) for i, r in enumerate(spec.rows) for _ in range(spec.samples)]  # (prompt-major) rows
    s = _Samples([], [], [], [], [], [], [], [], [], [])
    for b0 in range(0, len(flat), spec.batch_size):
        chunk = flat[b0 : b0 + spec.batch_size]
        seed = spec.seed + 1_000_003 * step + b0
        batch_in = [texts_in[i] for i, _ in chunk]
        comp, mask, kl = _sample_batch(model, ref_model, tokenizer, batch_in, seed, spec, ref_bf16)
        s.kls.extend(kl.tolist())
        s.lens.extend(mask.sum(1).tolist())
        s.truncated.extend((~(comp == eos).any(1)).tolist())
        texts = tokenizer.batch_decode(comp, skip_special_tokens=True)
        s.words.extend(len(t.split()) for t in texts)
        for (i, row), t in zip(chunk, texts, strict=True):
            s.every.append({"step": step, "prompt_index": i, "case_id": row.get("case_id"), "completion": t})
            s.prompts.append(row["prompt"])
            s.completions.append([{"role": "assistant", "content": t}] if conversational else t)
            s.proxy_cols.append(row[proxy.column])
            s.gold_cols.append(row[gold.column])
            if len(s.keep) < 4 and (not s.keep or s.keep[-1]["case_id"] != row.get("case_id")):
                s.keep.append({"step": step, "case_id": row.get("case_id"), "completion": t})
    return s


def _pass_rates(gold: GoldReward, s: _Samples) -> dict[str, float]:
    """Per gold criterion: the share of the scored completions that pass it (``criterion_key`` names)."""
    rubs, verdicts = gold.verdicts(s.prompts, s.completions, s.gold_cols)
    passes: dict[str, list[int]] = {}
    for r, v in zip(rubs, verdicts, strict=True):
        for j in range(len(r.criteria)):
            if v[j] >= 0:
                passes.setdefault(criterion_key(r, j), []).append(int(v[j]))
    return {k: float(np.mean(v)) for k, v in sorted(passes.items())}


def evaluate_policy(
    model,
    ref_model,
    tokenizer,
    spec: EvalSpec,
    proxy,
    gold: GoldReward,
    step: int,
    prompt_format: str,
    ref_autocast_bf16: bool = False,
) -> tuple[dict, list[dict]]:
    """One evaluation (see the module docstring). Returns (metrics row, a few sample completions,
    every completion as ``{step, prompt_index, case_id, completion}``, prompt-major: at step 0 these are the base
    policy's, which ``rft.winrate`` compares later steps against).

    ``ref_autocast_bf16``: run the reference under bf16 autocast too. Accelerate wraps the policy's forward in
    autocast when training in bf16, so without it the two log-probabilities would differ in precision and
    the KL would not be 0 even at step 0."""
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    s = _generate(model, ref_model, tokenizer, spec, proxy, gold, step, prompt_format, ref_autocast_bf16)
    gen_s = time.perf_counter() - t0
    p = proxy.score(s.prompts, s.completions, s.proxy_cols)
    g = gold.score(s.prompts, s.completions, s.gold_cols)
    pass_rates = _pass_rates(gold, s)
    (gm, gse), (pm, pse), (km, kse) = _mean_se(g), _mean_se(p), _mean_se(np.array(s.kls))
    row = {
        "step": step,
        "n": len(s.kls),
        "gold": gm,
        "gold_se": gse,
        "proxy": pm,
        "proxy_se": pse,
        "kl_seq": km,
        "kl_seq_se": kse,
        "len_tokens": float(np.mean(s.lens)),
        "len_words": float(np.mean(s.words)),
        "truncated_frac": float(np.mean(s.truncated)),
        "proxy_unscored": int(np.isnan(p).sum()),
        "gold_unscored": int(np.isnan(g).sum()),
        "eval_seconds": time.perf_counter() - t0,
        "gen_seconds": gen_s,
        "gold_pass": pass_rates,
    }
    if was_training:
        model.train()
    return row, s.keep, s.every


def _trainer_callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


def _append_durably(path: Path, lines: list[dict]) -> None:
    """Append JSON lines and fsync: a crash never loses an evaluation that was reported (rewards.io)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(to_json(x) + "\n" for x in lines))
        fh.flush()
        os.fsync(fh.fileno())


class RubricEvalCallback(_trainer_callback_base()):
    """Evaluates at step 0 and every ``every`` steps (main process only) and logs TRL's logs to JSONL.

    The reference model is loaded separately from ``ref_path`` in float32 (never the trainer's reference,
    which exists only when beta > 0 and whose forward TRL patches), so the KL is measured the same way for
    every beta. ``max_minutes`` > 0 stops training (after a final evaluation) once that much time has passed.
    """

    def __init__(
        self,
        run_dir: str | Path,
        ref_path: str,
        tokenizer,
        spec: EvalSpec,
        proxy,
        gold,
        every: int,
        prompt_format: str,
        bf16: bool = False,
        max_minutes: float = 0.0,
    ):
        self.run_dir = Path(run_dir)
        self.ref_path = ref_path
        self.tokenizer = tokenizer
        self.spec = spec
        self.proxy = proxy
        self.gold = gold
        self.every = every
        self.prompt_format = prompt_format
        self.bf16 = bf16
        self.max_minutes = max_minutes
        self.t0 = time.perf_counter()
        self.ref_model = None
        self.metrics_path = self.run_dir / "eval_metrics.jsonl"
        self.samples_path = self.run_dir / "eval_samples.jsonl"
        self.log_path = self.run_dir / "train_log.jsonl"
        self.completions_path = self.run_dir / "eval_completions.jsonl"
        self.rows: list[dict] = []

    def _ensure_ref(self, device):
        if self.ref_model is None:
            from transformers import AutoModelForCausalLM

            self.ref_model = AutoModelForCausalLM.from_pretrained(self.ref_path, dtype=torch.float32).to(device)
            self.ref_model.eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)

    def truncate_after(self, step: int) -> None:
        """On resume: keep only rows at or before the checkpoint's step (they will be recomputed after it)."""
        for path in (self.metrics_path, self.samples_path, self.log_path, self.completions_path):
            rows = read_jsonl(path)
            kept = [r for r in rows if r.get("step", 0) <= step]
            if len(kept) != len(rows):
                write_jsonl(path, kept)
        self.rows = read_jsonl(self.metrics_path)

    def start_fresh(self) -> None:
        """A new run: remove the evaluation and log files an earlier run left in the directory."""
        for p in (self.metrics_path, self.samples_path, self.log_path, self.completions_path):
            if p.exists():
                p.unlink()

    def _evaluate(self, state, model) -> None:
        if not state.is_world_process_zero:
            return
        if any(r["step"] == state.global_step for r in self.rows):
            return
        model = _unwrap(model)
        device = next(model.parameters()).device
        # nothing here may move the global RNG (loading the reference may draw initial weights): a resumed run
        # must see the RNG states of the uninterrupted one, whichever steps each evaluated
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            self._ensure_ref(device)
            row, samples, every = evaluate_policy(
                model,
                self.ref_model,
                self.tokenizer,
                self.spec,
                self.proxy,
                self.gold,
                state.global_step,
                self.prompt_format,
                self.bf16,
            )
        self.rows.append(row)
        _append_durably(self.metrics_path, [row])
        with open(self.samples_path, "a", encoding="utf-8") as fh:
            fh.write("".join(to_json(s) + "\n" for s in samples))
        _append_durably(self.completions_path, every)

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.t0 = time.perf_counter()
        if state.global_step % self.every == 0:  # step 0 (a resumed run evaluates on the same steps as a fresh one)
            self._evaluate(state, model)

    def on_step_end(self, args, state, control, model=None, **kw):
        out_of_time = self.max_minutes > 0 and time.perf_counter() - self.t0 > 60 * self.max_minutes
        if out_of_time:
            # each process reads its own clock: with several processes they may stop a step apart (use a margin)
            control.should_training_stop = True
            control.should_save = True
        if state.global_step % self.every == 0 or state.global_step == state.max_steps or out_of_time:
            self._evaluate(state, model)

    def on_log(self, args, state, control, logs=None, **kw):
        if state.is_world_process_zero and logs:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(to_json({"step": state.global_step, **logs}) + "\n")


class UnscoredStepsError(RuntimeError):
    """Training stopped because the proxy reward scored nothing for too many consecutive steps."""


class UnscoredGuard(_trainer_callback_base()):
    """Stops training after ``limit`` consecutive optimizer steps in which ``reward`` (a :class:`RubricReward`:
    its ``n_calls`` / ``n_scored`` / ``n_unscored`` counters) was called and scored no completion at all: a
    dead judge makes every reward None, TRL then trains on zero advantages and logs loss 0, which looks like a
    run. ``error`` is set to an :class:`UnscoredStepsError` naming the counts; the caller raises it. Steps that
    reuse buffered generations (no reward call) neither count nor reset. Each process checks its own counters.
    """

    def __init__(self, reward, limit: int):
        self.reward = reward
        self.limit = limit
        self.streak = 0
        self.streak_unscored = 0
        self.error: UnscoredStepsError | None = None
        self._last = self._counts()

    def _counts(self) -> tuple[int, int, int]:
        r = self.reward
        return getattr(r, "n_calls", 0), getattr(r, "n_scored", 0), getattr(r, "n_unscored", 0)

    def on_step_end(self, args, state, control, **kw):
        now = self._counts()
        calls, scored, unscored = (a - b for a, b in zip(now, self._last, strict=True))
        self._last = now
        if calls == 0:
            return
        if scored > 0:
            self.streak, self.streak_unscored = 0, 0
            return
        self.streak += 1
        self.streak_unscored += unscored
        if self.limit and self.streak >= self.limit and self.error is None:
            name = getattr(self.reward, "name", "proxy")
            self.error = UnscoredStepsError(
                f"{name}: {self.streak} consecutive steps (up to step {state.global_step}) scored none of their "
                f"{self.streak_unscored} completions ({now[1]} scored in the whole run); stopped by "
                f"max_unscored_steps={self.limit} (is the judge reachable?)"
            )
            control.should_training_stop = True
