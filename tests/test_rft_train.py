"""Real TRL GRPO steps on the triage task with a tiny model built in-process (CPU, offline)."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from rewards.io import read_jsonl  # noqa: E402
from rewards.rubric import UNKNOWN  # noqa: E402
from rewards.verify import RuleVerifier  # noqa: E402

SMOKE = Path(__file__).resolve().parents[1] / "rft" / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A 12-case task and a tiny pretrained model (~20 s)."""
    from rft.tasks.triage import TriageConfig, build_task, load_task
    from rft.tinylm import PretrainConfig, TinyLMConfig, build_model, pretrain, save_tinylm, train_tokenizer

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("rft")
    build_task(
        TriageConfig(seed=1, n_prompts=12, n_eval=4, corpus_per_case=24, refine_modes=("1-great-pair",), bt_pairs=8),
        root / "task",
        progress=False,
    )
    task = load_task(root / "task")
    msgs, comps = task.corpus()
    tok = train_tokenizer([m[0]["content"] for m in msgs] + comps, vocab_size=512)
    prompts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in msgs]
    model = build_model(TinyLMConfig(48, 1, 4, 2, 96, max_position=256), tok)
    hist = pretrain(
        model, tok, prompts, comps, PretrainConfig(epochs=6, batch_size=32, lr=1e-2, device="cpu"), progress=False
    )
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    save_tinylm(model, tok, root / "lm")
    return root


def _args(assets, **kw):
    """RFTArguments on the test assets (one evaluation prompt unless ``kw`` says otherwise)."""
    from rft.train import RFTArguments

    return RFTArguments(
        model_name_or_path=str(assets / "lm"), task_dir=str(assets / "task"), **{"eval_prompts": 1, **kw}
    )


def _config(out, **kw):
    from trl import GRPOConfig

    base = dict(
        output_dir=str(out),
        max_steps=3,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=40,
        learning_rate=5e-3,
        beta=0.02,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        lr_scheduler_type="constant",
    )
    base.update(kw)
    return GRPOConfig(**base)


def test_grpo_steps_change_params_and_log_our_metrics(assets, tmp_path):
    from safetensors.torch import load_file

    from rft.train import train

    args = _args(assets, proxy="initial", eval_every=3, eval_prompts=2, eval_samples=4)
    res = train(args, _config(tmp_path / "run"), keep_trainer=True)
    before = load_file(str(assets / "lm" / "model.safetensors"))
    after = {k: v.detach().cpu() for k, v in res.trainer.model.state_dict().items()}
    changed = [k for k in before if k in after and not torch.equal(before[k], after[k])]
    assert changed, "GRPO did not change any parameter"

    rows = read_jsonl(tmp_path / "run" / "eval_metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 3]
    assert rows[0]["kl_seq"] == pytest.approx(0.0, abs=1e-5)  # policy == reference before any update
    assert rows[1]["kl_seq"] != rows[0]["kl_seq"]
    for r in rows:
        assert 0.0 <= r["gold"] <= 1.0 and 0.0 <= r["proxy"] <= 1.0 and r["n"] == 8
        assert r["proxy_unscored"] == 0 and r["gold_unscored"] == 0 and r["len_tokens"] > 0
        assert any(k.startswith("prop:") for k in r["gold_pass"])
    logs = read_jsonl(tmp_path / "run" / "train_log.jsonl")
    keys = set().union(*[set(r) for r in logs])
    assert {"rewards/proxy_initial/mean", "gold/mean", "proxy_initial/unscored", "proxy_initial/unscored_frac"} <= keys
    assert any(k.startswith("proxy_initial/pass/prop:") for k in keys)
    cfg = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert cfg["grpo"]["beta"] == 0.02 and cfg["proxy_rubric_key"] == "initial"


class HalfUnknown(RuleVerifier):
    """Every other completion cannot be graded (a judge that timed out)."""

    def verify_many(self, items):
        out = super().verify_many(items)
        for k in range(0, len(out), 2):
            out[k] = np.full_like(out[k], UNKNOWN)
        return out


def test_none_rewards_are_handled_standard_format(assets, tmp_path):
    from rft.train import train

    args = _args(assets, proxy="refined", prompt_format="standard", eval_every=2, eval_samples=2, monitor_gold=False)
    res = train(args, _config(tmp_path / "run", max_steps=2), verifier=HalfUnknown())
    logs = read_jsonl(tmp_path / "run" / "train_log.jsonl")
    fr = [r["proxy_refined/unscored_frac"] for r in logs if "proxy_refined/unscored_frac" in r]
    assert fr and all(f == pytest.approx(0.5) for f in fr)
    # TRL turned None into NaN and left it out of the reward mean: the logged mean is finite
    assert all(np.isfinite(r["rewards/proxy_refined/mean"]) for r in logs if "rewards/proxy_refined/mean" in r)
    assert res.eval_rows[-1]["proxy_unscored"] == res.eval_rows[-1]["n"] // 2


def test_smoke_config_end_to_end_and_resume(assets, tmp_path, capsys):
    from chase.rft_cli import main

    common = [
        "--config",
        str(SMOKE),
        "--model_name_or_path",
        str(assets / "lm"),
        "--task_dir",
        str(assets / "task"),
        "--output_dir",
        str(tmp_path / "smoke"),
        "--max_completion_length",
        "40",
    ]
    assert main(["train", *common, "--max_steps", "2", "--save_steps", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(out)["run_dir"] == str(tmp_path / "smoke")
    assert (tmp_path / "smoke" / "checkpoint-2").is_dir()
    # a longer run in the same directory resumes from checkpoint-2 and never duplicates an evaluation step
    assert main(["train", *common, "--max_steps", "4", "--save_steps", "2"]) == 0
    rows = read_jsonl(tmp_path / "smoke" / "eval_metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 2, 4]
    cfg = json.loads((tmp_path / "smoke" / "run_config.json").read_text())
    assert cfg["resumed_from"].endswith("checkpoint-2") and cfg["grpo"]["beta"] == 0.01


def test_bt_proxy_trains(assets, tmp_path):
    from rft.tasks.triage import load_task
    from rft.train import train

    task = load_task(assets / "task")
    on, off = task.bt_model("on"), task.bt_model("off")
    assert on.w.shape == off.w.shape == (12, 13)
    args = _args(assets, proxy="bt", bt_kind="off", eval_every=1, eval_samples=2)
    res = train(args, _config(tmp_path / "run", max_steps=1))
    logs = read_jsonl(tmp_path / "run" / "train_log.jsonl")
    assert any("rewards/proxy_bt_off/mean" in r for r in logs)
    assert [r["step"] for r in res.eval_rows] == [0, 1] and np.isfinite(res.eval_rows[-1]["proxy"])


@pytest.mark.slow
def test_two_cpu_processes_with_torchrun(assets, tmp_path):
    """Two CPU processes (gloo) through torchrun: both generate and train, the main process evaluates once per
    step. (``accelerate launch --cpu --num_processes 2`` starts only ONE process; torchrun or an accelerate
    MULTI_CPU config with mpirun is needed.) ~1 minute, hence slow."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "chase.cli",
        "rft",
        "train",
        "--config",
        str(SMOKE),
        "--prepare",
        "false",
        "--model_name_or_path",
        str(assets / "lm"),
        "--task_dir",
        str(assets / "task"),
        "--output_dir",
        str(out),
        "--max_steps",
        "2",
        "--save_steps",
        "2",
        "--max_completion_length",
        "40",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env, cwd=Path(__file__).resolve().parents[1], capture_output=True)
    rows = read_jsonl(out / "eval_metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 2]
    logs = [r for r in read_jsonl(out / "train_log.jsonl") if "epoch" in r and "num_tokens" in r]
    # 8 training prompts, 2 prompts per process per step: 2 processes make 1/2 epoch per step (1 would make 1/4)
    assert logs[0]["epoch"] == pytest.approx(1 / 2)


class AllUnknown(RuleVerifier):
    """A dead judge: nothing can be graded."""

    def verify_many(self, items):
        return [np.full_like(v, UNKNOWN) for v in super().verify_many(items)]


def test_unscored_guard_counts_consecutive_steps():
    from types import SimpleNamespace

    from rft.evaluate import UnscoredGuard

    reward = SimpleNamespace(name="proxy_x", n_calls=0, n_scored=0, n_unscored=0)
    guard, control = UnscoredGuard(reward, 2), SimpleNamespace(should_training_stop=False)

    def step(scored, unscored, calls=1):
        reward.n_calls += calls
        reward.n_scored += scored
        reward.n_unscored += unscored
        guard.on_step_end(None, SimpleNamespace(global_step=reward.n_calls), control)

    step(0, 8), step(3, 5), step(0, 8), step(0, 0, calls=0)  # a scored step resets; a step without a call is neutral
    assert guard.error is None and not control.should_training_stop
    step(0, 8)
    assert control.should_training_stop and "2 consecutive steps (up to step 4) scored none of their 16" in str(
        guard.error
    )
    off = UnscoredGuard(reward, 0)
    for _ in range(5):
        reward.n_calls += 1
        off.on_step_end(None, SimpleNamespace(global_step=0), control)
    assert off.error is None


def test_dead_judge_stops_the_run_with_an_error(assets, tmp_path, capsys, monkeypatch):
    """Every proxy reward None (a judge that never answers): exit 2 and one line naming the counts, not a
    'successful' run with loss 0."""
    import rft.train
    from chase.rft_cli import main

    monkeypatch.setattr(rft.train, "RuleVerifier", AllUnknown)
    out = tmp_path / "dead"
    argv = ["train", "--config", str(SMOKE), "--prepare", "false", "--output_dir", str(out), "--max_steps", "6"]
    argv += ["--model_name_or_path", str(assets / "lm"), "--task_dir", str(assets / "task")]
    assert main([*argv, "--max_completion_length", "24", "--max_unscored_steps", "2", "--save_steps", "10"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert err == [
        "chase rft train: error: proxy_initial: 2 consecutive steps (up to step 2) scored none of their 16 "
        "completions (0 scored in the whole run); stopped by max_unscored_steps=2 (is the judge reachable?)"
    ]
    assert max(r["step"] for r in read_jsonl(out / "train_log.jsonl")) == 2
    assert not (out / "summary.json").exists()


def test_incomplete_checkpoints_are_skipped(tmp_path, capsys):
    from rft.resume import last_complete_checkpoint

    def ckpt(step, files=("trainer_state.json", "model.safetensors", "optimizer.pt", "scheduler.pt")):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        for f in files:
            (d / f).write_text(json.dumps({"global_step": step}) if f == "trainer_state.json" else "x")

    assert last_complete_checkpoint(tmp_path) is None
    ckpt(2), ckpt(10), ckpt(12, ("model.safetensors", "optimizer.pt")), ckpt(14, ("trainer_state.json",))
    (tmp_path / "checkpoint-10" / "trainer_state.json").write_text('{"global_')  # cut short
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    err = capsys.readouterr().err
    for step, why in ((14, "no model weights"), (12, "no readable trainer_state.json"), (10, "no readable")):
        assert f"skipping incomplete checkpoint {tmp_path / f'checkpoint-{step}'} ({why}" in err
    # a LoRA run's checkpoint holds only the adapter (peft): complete
    ckpt(20, ("trainer_state.json", "adapter_model.safetensors", "optimizer.pt", "scheduler.pt"))
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-20")


class StopAt:
    """Kill the run after step ``k`` (after that step's checkpoint), as an interruption would."""

    def __new__(cls, k):
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if state.global_step >= k:
                    control.should_training_stop = True

        return _Stop()


def test_killed_and_resumed_run_equals_the_uninterrupted_one(assets, tmp_path):
    """8 training prompts, 2 per step: 4 steps per epoch. The killed run stops at step 6 with checkpoint-6 half
    written (no trainer_state.json), so it resumes from checkpoint-5, mid-way through epoch 1: the prompt order,
    the RNG states and the evaluations must all continue exactly."""
    from rft.train import train

    def run(name, extra=()):
        args = _args(assets, eval_every=2, eval_samples=2)
        cfg = _config(tmp_path / name, max_steps=7, max_completion_length=24, save_strategy="steps", save_steps=1)
        return train(args, cfg, extra_callbacks=extra, keep_trainer=True)

    full = run("full")
    run("killed", extra=[StopAt(6)])
    (tmp_path / "killed" / "checkpoint-6" / "trainer_state.json").unlink()
    resumed = run("killed")
    assert json.loads((tmp_path / "killed" / "run_config.json").read_text())["resumed_from"].endswith("checkpoint-5")

    def strip(rows):
        return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in rows]

    assert [r["step"] for r in full.eval_rows] == [0, 2, 4, 6, 7]
    assert strip(resumed.eval_rows) == strip(full.eval_rows)
    a, b = full.trainer.model.state_dict(), resumed.trainer.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
