"""``chase rft``: build the triage task, pretrain the tiny LM on it, train with GRPO, gather and plot runs.

    chase rft build-task --out DIR [TriageConfig flags]
    chase rft pretrain --task DIR --out MODEL_DIR [TaskPretrainConfig flags]
    chase rft train --config FILE.yaml [--key value ...]    (TRL's parser: RFTArguments + GRPOConfig)
    chase rft collect --run NAME=RUN_DIR[,RUN_DIR...] [--run ...] --out DIR [--stem rft] [SeedsConfig flags]
        -> DIR/{stem}_metrics.json, {stem}_metrics.csv, {stem}_curves.{json,png,pdf}
    chase rft plot --run NAME=RUN_DIR[,RUN_DIR...] [--run ...] --out DIR [--stem rft_curves]

Flags are generated from the library's config dataclasses (``chase.flags``), so ``--help`` shows the library
defaults. Every sub-command prints one JSON object on stdout (rewards.io.emit). This is glue: it parses and
calls ``rft.tasks.triage``, ``rft.pretrain``, ``rft.train`` and ``rft.seeds``.
"""

from __future__ import annotations

import argparse
import sys
import time

from chase.cli import Parser, dispatch, run_subcommand
from chase.flags import add_config_flags, config_from_args
from rewards.io import emit

__all__ = ["SUBCOMMANDS", "build_task_command", "collect_command", "main", "plot_command", "pretrain_command"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "build-task": ("chase.rft_cli:build_task_command", "build the triage text task (world, corpus, rubrics)"),
    "pretrain": ("chase.rft_cli:pretrain_command", "pretrain the tiny LM on the task's base corpus"),
    "train": ("chase.rft_cli:train_command", "GRPO with TRL (--config FILE.yaml; RFTArguments + GRPOConfig)"),
    "collect": ("chase.rft_cli:collect_command", "runs over seeds -> metrics JSON/CSV, figure data, figure"),
    "plot": ("chase.rft_cli:plot_command", "runs over seeds -> the curves figure (and its data)"),
    "winrate": ("chase.rft_cli:winrate_command", "a dataset run's held-out win rate vs the base policy (pairwise)"),
}


def _limit_cpu_threads() -> None:
    """Torch on CPU uses one thread unless CHASE_RFT_THREADS says otherwise: on these shared 2-core machines a
    second thread made tiny-model steps 2-10x SLOWER (measured; contention), and tiny models gain nothing."""
    import os

    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("CHASE_RFT_THREADS", "1")))
    else:
        torch.set_float32_matmul_precision("high")  # fp32 weights, TF32 matmuls (see rft/tinylm.py on dtypes)


def _config(p: argparse.ArgumentParser, cls: type, args: argparse.Namespace, **fixed):
    """The config from the generated flags; an invalid combination is a usage error."""
    try:
        return config_from_args(cls, args, **fixed)
    except ValueError as e:
        p.error(str(e))


def build_task_command(argv: list[str]) -> int:
    from rft.tasks.triage import TriageConfig, build_task

    p = Parser(prog="chase rft build-task", description="build the triage text task")
    p.add_argument("--out", required=True, help="task directory")
    add_config_flags(p, TriageConfig)
    args = p.parse_args(argv)
    cfg = _config(p, TriageConfig, args)
    t0 = time.perf_counter()
    task = build_task(cfg, args.out)
    seconds = time.perf_counter() - t0
    head = {"task_dir": str(task.path), "rubric_keys": task.rubric_keys, "n_records": len(task.records)}
    emit({**head, "seconds": seconds, **task.meta})
    return 0


def pretrain_command(argv: list[str]) -> int:
    from rft.pretrain import TaskPretrainConfig, pretrain_on_task

    p = Parser(prog="chase rft pretrain", description="pretrain the tiny LM on the base corpus")
    p.add_argument("--task", required=True, help="task directory (chase rft build-task)")
    p.add_argument("--out", required=True, help="model directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_flags(p, TaskPretrainConfig)
    args = p.parse_args(argv)
    cfg = _config(p, TaskPretrainConfig, args)
    _limit_cpu_threads()
    meta = pretrain_on_task(args.task, args.out, cfg, progress=not args.no_progress)
    meta.pop("loss_curve")
    emit({"model_dir": args.out, **meta})
    return 0


def train_command(argv: list[str]) -> int:
    """TRL's own parser (``TrlParser`` over RFTArguments + GRPOConfig: also generated from dataclasses) reads
    ``argv``; the error boundary is the shared one (``chase.cli.run_subcommand``): a bad setting, a missing file
    or a failed run (``rft.train.USER_ERRORS``) is one line ``chase rft train: error: ...`` and exit 2."""
    _limit_cpu_threads()
    from rft.train import USER_ERRORS
    from rft.train import main as train_main

    def no_flags(p: argparse.ArgumentParser) -> None:  # TrlParser parses argv itself, inside train_main
        return None

    def run(_args: argparse.Namespace) -> int:
        return train_main(argv)

    return run_subcommand("chase rft train", SUBCOMMANDS["train"][1], no_flags, run, [], USER_ERRORS)


def _seeds_parser(prog: str, description: str, stem: str, exclude: tuple[str, ...] = ()):
    from rft.seeds import SeedsConfig

    p = Parser(prog=prog, description=description)
    p.add_argument(
        "--run",
        action="append",
        required=True,
        help="NAME=RUN_DIR[,RUN_DIR...] (repeatable; several dirs are seeds of one condition: mean and 95%% CI)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--stem", default=stem, help=f"file name stem (default: {stem})")
    p.add_argument("--title", default="", help="figure title")
    add_config_flags(p, SeedsConfig, exclude=("conditions", *exclude))
    return p


def _seeds_result(p: argparse.ArgumentParser, args: argparse.Namespace):
    """Parse ``--run`` specs, gather the runs; a bad spec, a missing run or mismatched steps is a usage error."""
    from rft.seeds import SeedsConfig, collect

    try:
        cfg = config_from_args(SeedsConfig, args, base=SeedsConfig.from_specs(args.run))
        return collect(cfg)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))


def collect_command(argv: list[str]) -> int:
    p = _seeds_parser("chase rft collect", "gather GRPO runs (seeds) into metrics and figure data", "rft")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG/PDF (the figure data is still written)")
    args = p.parse_args(argv)
    result = _seeds_result(p, args)
    from rft.seeds import report, summarize

    paths = report(result, args.out, args.stem, args.title)
    if not args.no_figure:
        from figures.rft_curves import plot
        from figures.style import save_from_file

        drawn = save_from_file(plot, paths["figure_data"])
        paths |= {"png": drawn["png"], "pdf": drawn["pdf"]}
    peaks = {name: round(s["gold"]["peak"]["mean"], 4) for name, s in summarize(result).items()}
    emit({**{k: str(v) for k, v in paths.items()}, "gold_peak": peaks})
    return 0


def plot_command(argv: list[str]) -> int:
    p = _seeds_parser("chase rft plot", "gold vs proxy reward over steps and KL", "rft_curves", ("model", "samples"))
    args = p.parse_args(argv)
    result = _seeds_result(p, args)
    from figures.rft_curves import save
    from rft.seeds import figure_data

    paths = save(figure_data(result, args.title), args.out, args.stem)
    emit({k: str(v) for k, v in paths.items()})
    return 0


def _steps_list(text: str) -> list[int]:
    try:
        steps = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated step numbers, got {text!r}") from None
    if not steps or min(steps) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated step numbers >= 0, got {text!r}")
    return steps


def winrate_command(argv: list[str]) -> int:
    """``chase rft winrate RUN_DIR (--base_url URL [--model M] [--api_key_env VAR] | --gold) [--steps 20,60]``
    -> RUN_DIR/winrate.json (LLM judge) or RUN_DIR/winrate_gold.json (the gold rubric as the pairwise judge)."""
    from rft.judges.client import ChatClient, ChatConfig
    from rft.winrate import run_winrate

    p = Parser(prog="chase rft winrate", description="pairwise win rate (both orders) vs the step-0 policy")
    p.add_argument("run_dir", help="a `chase rft train` output_dir of a dataset run")
    judge = p.add_mutually_exclusive_group(required=True)
    judge.add_argument("--base_url", help="OpenAI-compatible judge, e.g. http://127.0.0.1:8000/v1")
    judge.add_argument(
        "--gold", action="store_true", help="no model: the response with the higher gold score wins (ties: 0.5)"
    )
    p.add_argument("--model", default="judge", help="judge model name")
    p.add_argument("--api_key_env", default="OPENAI_API_KEY", help="NAME of the API key's environment variable")
    p.add_argument("--steps", type=_steps_list, default=None, help="only these evaluation steps, e.g. 20,60")
    args = p.parse_args(argv)
    try:
        if args.gold:
            res = run_winrate(args.run_dir, None, args.steps)
        else:
            client = ChatClient(ChatConfig(base_url=args.base_url, model=args.model, api_key_env=args.api_key_env))
            try:
                res = run_winrate(args.run_dir, client, args.steps)
            finally:
                client.close()
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))
    emit(
        {"winrate": [{"step": w.step, "rate": w.rate, "n": w.n, "unscored": w.unscored, "agree": w.agree} for w in res]}
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return dispatch(list(sys.argv[1:] if argv is None else argv), SUBCOMMANDS, "chase rft", "sub-command")


if __name__ == "__main__":
    raise SystemExit(main())
