"""Share of GRPO step time spent computing the rubric reward (RuleVerifier), measured in one TRL run.

    python benchmarks/bench_rft_reward.py [--task runs/rft/cpu/task --model runs/rft/cpu/tinylm --steps 20]

Without --task/--model it builds a small task and pretrains a tiny model first (a few minutes on 2 cores).
The reward function is wrapped in a timer (every call TRL makes, the gold monitor included); step time is
wall time between the trainer's on_step_begin and on_step_end. The first ``--warmup`` steps are excluded.
Baseline in the same run = the GRPO step itself: printed ratio = reward seconds / step seconds (target < 5%).
It also times the reward alone (no trainer) per completion.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Timed:
    """A reward function wrapper that accumulates the seconds spent inside it (same __name__, same outputs)."""

    def __init__(self, fn):
        self.fn = fn
        self.__name__ = fn.__name__
        self.seconds = 0.0
        self.calls = 0
        self.completions = 0

    def __call__(self, *a, **kw):
        t0 = time.perf_counter()
        out = self.fn(*a, **kw)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        self.completions += len(out)
        return out


def _assets(task_dir, model_dir, tmp: Path) -> tuple[Path, Path]:
    """The given task and model, or a small task and a nano model built in ``tmp`` (a few minutes)."""
    from rft.tasks.triage import TriageConfig, build_task

    if task_dir is None:
        task_dir = tmp / "task"
        build_task(TriageConfig(n_prompts=24, n_eval=4, corpus_per_case=80, refine_modes=()), task_dir, progress=False)
    if model_dir is None:
        from rft.pretrain import TaskPretrainConfig, pretrain_on_task

        model_dir = tmp / "lm"
        cfg = TaskPretrainConfig(size="nano", epochs=3, eval_cases=2, eval_samples=2)
        pretrain_on_task(task_dir, model_dir, cfg, progress=False)
    return Path(task_dir), Path(model_dir)


def _step_timer():
    """A trainer callback that records the wall time of every optimizer step (begin to end)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times = []
            self._t = None

        def on_step_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._t)

    return StepTimer()


def _reset_after_warmup(reward: Timed, warmup: int):
    """A callback that zeroes the reward's counters once the warm-up steps are done."""
    from transformers import TrainerCallback

    class Reset(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == warmup:
                reward.seconds, reward.calls, reward.completions = 0.0, 0, 0

    return Reset()


def _grpo_run(task, model_dir: Path, out: Path, steps: int, warmup: int) -> tuple[Timed, list[float]]:
    """GRPO with the timed rubric reward: (the timed reward, step seconds of every step)."""
    from trl import GRPOConfig, GRPOTrainer

    from rewards.verify import RuleVerifier
    from rft.reward import GoldReward, RubricReward
    from rft.tinylm import load_tinylm

    _, tok = load_tinylm(model_dir)
    verifier = RuleVerifier()
    reward = Timed(RubricReward(verifier, name="proxy_initial", monitors=(GoldReward(verifier),)))
    timer = _step_timer()
    cfg = GRPOConfig(
        output_dir=str(out),
        max_steps=steps + warmup,
        per_device_train_batch_size=16,
        num_generations=8,
        max_completion_length=64,
        learning_rate=1e-3,
        beta=0.01,
        bf16=False,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        disable_tqdm=True,
        model_init_kwargs={"dtype": "float32"},
    )
    ds = task.dataset("train", "initial")
    trainer = GRPOTrainer(
        model=str(model_dir), reward_funcs=[reward], args=cfg, train_dataset=ds, processing_class=tok, callbacks=[timer]
    )
    trainer.add_callback(_reset_after_warmup(reward, warmup))
    trainer.train()
    return reward, timer.times


def _reward_alone(task, model_dir: Path, n: int = 128, reps: int = 20) -> float:
    """Seconds per completion of the rubric reward alone (no trainer) on ``n`` completions, ``reps`` times."""
    from rewards.verify import RuleVerifier
    from rft.reward import RubricReward

    rows = task.rows("train", "initial")[:8]
    texts = json.loads((model_dir / "samples.json").read_text())[0]["samples"] or ["x"]
    comps = [texts[i % len(texts)] for i in range(n)]
    prompts = [rows[i % len(rows)]["prompt"] for i in range(n)]
    rub_col = [rows[i % len(rows)]["rubric"] for i in range(n)]
    rr = RubricReward(RuleVerifier(), name="r")
    rr(prompts=prompts, completions=comps, rubric=rub_col)  # warm the parse and compile caches
    t0 = time.perf_counter()
    for _ in range(reps):
        rr(prompts=prompts, completions=comps, rubric=rub_col)
    return (time.perf_counter() - t0) / (reps * n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", default=None, help="write the result JSON here")
    a = ap.parse_args(argv)

    import torch

    from rft.tasks.triage import load_task

    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench_rft_"))
    task_dir, model_dir = _assets(a.task, a.model, tmp)
    task = load_task(task_dir)
    reward, times = _grpo_run(task, model_dir, tmp / "run", a.steps, a.warmup)
    step_s = sum(times[a.warmup :])
    share = reward.seconds / step_s
    per_completion = _reward_alone(task, model_dir)
    res = {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "steps_timed": len(times) - a.warmup,
        "step_seconds_total": step_s,
        "step_seconds_mean": step_s / max(1, len(times) - a.warmup),
        "reward_seconds_total": reward.seconds,
        "reward_calls": reward.calls,
        "completions_scored": reward.completions,
        "reward_share": share,
        "reward_us_per_completion": per_completion * 1e6,
    }
    print(json.dumps(res, indent=2))
    print(
        f"reward share of GRPO step time: {100 * share:.2f}% (target < 5%); "
        f"{per_completion * 1e6:.0f} us per completion for the reward alone"
    )
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
