"""``chase rft``: build the triage task, pretrain the tiny LM on it, train with GRPO, plot.

  chase rft build-task --out DIR [--seed S --n-prompts P --n-eval E --corpus-per-case N]
  chase rft pretrain --task DIR --out MODEL_DIR [--size nano|micro|small|base --epochs E --batch-size B
                     --lr LR --vocab-size V --device auto --max-docs N --amp-bf16]
  chase rft train --config FILE.yaml [--key value ...]    (TRL's parser: RFTArguments + GRPOConfig)
  chase rft plot --run NAME=RUN_DIR[,RUN_DIR...] [--run ...] --out DIR  (figures/rft_curves.py; seeds)
  chase rft collect --run NAME=RUN_DIR [--run ...] [--model DIR] --json FILE --csv FILE

Every sub-command prints one JSON object on stdout (rewards.io.emit).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rewards.io import emit, read_jsonl


def _build_task(argv: list[str]) -> int:
    from rft.tasks.triage import TriageConfig, build_task

    ap = argparse.ArgumentParser(prog="chase rft build-task", description="build the triage text task")
    ap.add_argument("--out", required=True)
    d = TriageConfig()
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--n-prompts", type=int, default=d.n_prompts)
    ap.add_argument("--n-eval", type=int, default=d.n_eval)
    ap.add_argument("--corpus-per-case", type=int, default=d.corpus_per_case)
    ap.add_argument(
        "--refine-modes",
        default=",".join(d.refine_modes),
        help="comma-separated pool modes (rewards.refine.POOL_MODES); empty for none",
    )
    a = ap.parse_args(argv)
    cfg = TriageConfig(
        seed=a.seed,
        n_prompts=a.n_prompts,
        n_eval=a.n_eval,
        corpus_per_case=a.corpus_per_case,
        refine_modes=tuple(m for m in a.refine_modes.split(",") if m),
    )
    t0 = time.perf_counter()
    task = build_task(cfg, a.out)
    emit(
        {
            "task_dir": str(task.path),
            "rubric_keys": task.rubric_keys,
            "n_records": len(task.records),
            "seconds": time.perf_counter() - t0,
            **task.meta,
        }
    )
    return 0


def _pretrain(argv: list[str]) -> int:
    from rft.pretrain import pretrain_on_task

    ap = argparse.ArgumentParser(prog="chase rft pretrain", description="pretrain the tiny LM on the base corpus")
    ap.add_argument("--task", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="micro", choices=["nano", "micro", "small", "base"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--vocab-size", type=int, default=1024)
    ap.add_argument("--tokenizer", default="phrase", choices=["phrase", "word"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-docs", type=int, default=0)
    ap.add_argument("--amp-bf16", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    meta = pretrain_on_task(
        a.task,
        a.out,
        a.size,
        a.epochs,
        a.batch_size,
        a.lr,
        a.vocab_size,
        a.tokenizer,
        a.device,
        a.max_docs,
        a.amp_bf16,
        a.seed,
        progress=not a.no_progress,
    )
    meta.pop("loss_curve")
    emit({"model_dir": a.out, **meta})
    return 0


def _runs(specs: list[str], prog: str) -> dict[str, list[tuple[str, list[dict]]]]:
    """``NAME=DIR[,DIR...]`` (repeatable; several dirs = seeds of one condition) -> {name: [(dir, eval rows)]}."""
    out: dict[str, list[tuple[str, list[dict]]]] = {}
    for spec in specs:
        name, sep, dirs = spec.partition("=")
        if not sep or not name or not dirs:
            raise SystemExit(f"{prog}: --run expects NAME=DIR[,DIR...], got {spec!r}")
        for d in dirs.split(","):
            rows = read_jsonl(Path(d) / "eval_metrics.jsonl")
            if not rows:
                raise SystemExit(f"{prog}: {d}/eval_metrics.jsonl is missing or empty")
            out.setdefault(name, []).append((d, sorted(rows, key=lambda r: r["step"])))
    return out


def _plot(argv: list[str]) -> int:
    from figures.rft_curves import WATCH, plot
    from figures.style import save_figure
    from rft.seeds import aggregate_curves

    ap = argparse.ArgumentParser(prog="chase rft plot", description="gold vs proxy reward over steps and KL")
    ap.add_argument(
        "--run",
        action="append",
        required=True,
        help="NAME=RUN_DIR[,RUN_DIR...] (repeatable; several dirs are seeds: mean and 95%% CI)",
    )
    ap.add_argument("--out", required=True)
    ap.add_argument("--stem", default="rft_curves")
    ap.add_argument("--title", default="")
    a = ap.parse_args(argv)
    data = {
        name: aggregate_curves([rows for _d, rows in runs], tuple(WATCH))
        for name, runs in _runs(a.run, "chase rft plot").items()
    }
    fig = plot(data, title=a.title)
    paths = save_figure(fig, data, a.out, a.stem)
    emit({k: str(v) for k, v in paths.items()})
    return 0


def _limit_cpu_threads() -> None:
    """Torch on CPU uses one thread unless CHASE_RFT_THREADS says otherwise: on these shared 2-core machines a
    second thread made tiny-model steps 2-10x SLOWER (measured; contention), and tiny models gain nothing."""
    import os

    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("CHASE_RFT_THREADS", "1")))
    else:
        torch.set_float32_matmul_precision("high")  # fp32 weights, TF32 matmuls (see rft/tinylm.py on dtypes)


def _collect(argv: list[str]) -> int:
    """Gather runs into one metrics JSON (pretraining report, run summaries, every evaluation row, environment)
    and one flat CSV (one line per run and evaluation step)."""
    import csv
    import io
    import json

    from rewards.io import atomic_write_text, write_json
    from rft.seeds import summarize_seeds
    from rft.train import summarize

    ap = argparse.ArgumentParser(prog="chase rft collect")
    ap.add_argument(
        "--run",
        action="append",
        required=True,
        help="NAME=RUN_DIR[,RUN_DIR...] (repeatable; several dirs are seeds of one condition)",
    )
    ap.add_argument("--model", default=None, help="pretrained model dir (its tinylm.json report is included)")
    ap.add_argument("--json", required=True)
    ap.add_argument("--csv", required=True)
    a = ap.parse_args(argv)
    out: dict = {"runs": {}, "over_seeds": {}}
    if a.model:
        meta = json.loads((Path(a.model) / "tinylm.json").read_text())
        out["pretrain"] = meta
    lines = []
    for name, runs in _runs(a.run, "chase rft collect").items():
        for i, (d, rows) in enumerate(runs):
            key = name if len(runs) == 1 else f"{name}/seed-run-{i}"
            cfg_path = Path(d) / "run_config.json"
            cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
            out["runs"][key] = {
                "dir": d,
                "summary": summarize(rows),
                "eval": rows,
                "config": cfg,
                "samples": read_jsonl(Path(d) / "eval_samples.jsonl")[-8:],
            }
            for r in rows:
                lines.append(
                    {
                        "run": key,
                        "condition": name,
                        **{k: v for k, v in r.items() if k != "gold_pass"},
                        **{f"gold_pass/{k}": v for k, v in r.get("gold_pass", {}).items()},
                    }
                )
        out["over_seeds"][name] = summarize_seeds([rows for _d, rows in runs])
    write_json(a.json, out)
    first = ("run", "condition", "step")
    cols = sorted({k for r in lines for k in r}, key=lambda k: (first.index(k) if k in first else len(first), k))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(lines)
    atomic_write_text(a.csv, buf.getvalue())
    emit(
        {
            "json": a.json,
            "csv": a.csv,
            "peak_gold": {k: round(v["peak_gold"]["mean"], 4) for k, v in out["over_seeds"].items()},
        }
    )
    return 0


def main(argv: list[str]) -> int:
    _limit_cpu_threads()
    cmds = {"build-task": _build_task, "pretrain": _pretrain, "plot": _plot, "collect": _collect}
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv[0] == "train":
        from rft.train import main as train_main

        return train_main(argv[1:])
    if argv[0] not in cmds:
        print(f"chase rft: unknown sub-command {argv[0]!r}\n{__doc__}")
        return 2
    return cmds[argv[0]](argv[1:])


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
