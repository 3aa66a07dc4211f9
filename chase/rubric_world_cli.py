"""``chase sim rubric-world``: the paper's Tables 1, 2, 6 and Figure 4, reproduced in the simulated rubric world.

    chase sim rubric-world --out DIR [--quick] [--overwrite] [--refine-logs] [config flags ...]
        -> DIR/config.json, DIR/run.json   the ExperimentConfig and the finished-run record (rewards.runs)
           DIR/summary.json, per_seed.json, curves.csv, properties.csv, table{1,2,6}.{csv,md}, findings.md,
           example_rubrics.json            (sim.rubric_experiments.report documents each)
           DIR/rubric_world_fig4.{png,pdf,json}, DIR/rubric_world_table2.{png,pdf,json}
        stdout: one JSON object (where the files are, the headline numbers)

Every field of ``sim.rubric_experiments.ExperimentConfig`` is a flag (``--seeds``, ``--world-n-prompts``,
``--train-steps``, ``--bt-halo-strength``, ``--verifier-halo-strength``, ... see ``--help``); the defaults are
the config's. ``--quick`` starts from the smoke profile (2 seeds, 16 prompts, 60 steps) instead; a flag given
explicitly wins over it. Defaults take about 2 minutes on a 2-core CPU. A finished DIR with the same config is
not recomputed (its summary is re-emitted); a DIR holding another config is an error unless ``--overwrite``.
``--refine-logs`` writes resumable refinement logs under DIR/refine_logs. This module only parses arguments:
the library code is sim.rubric_experiments and figures.rubric_world.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from chase.cli import Parser
from chase.flags import add_config_flags, config_from_args
from rewards.io import emit

__all__ = ["main"]

PROG = "chase sim rubric-world"
# fields whose type (tuples of (kind, rate) pairs) has no flag form: change them in code
NO_FLAG = ("verifier.fpr", "verifier.fnr", "bt.perception")


def _parser() -> argparse.ArgumentParser:
    from sim.rubric_experiments import ExperimentConfig

    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quick", action="store_true", help="smoke profile: 2 seeds, 16 prompts, 60 steps, fewer pairs")
    p.add_argument("--overwrite", action="store_true", help="replace a run of another config in --out")
    p.add_argument("--refine-logs", action="store_true", help="write resumable refinement logs (slower: fsync)")
    add_config_flags(p, ExperimentConfig, exclude=NO_FLAG)
    return p


def _headline(out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    t1 = summary["table1"]
    return {
        "out": str(out),
        "seeds": summary["seeds"],
        "holds": summary["holds"],
        "peak_gold": {n: round(t1[n]["peak_gold"]["mean"], 4) for n in t1},
    }


def main(argv: list[str] | None = None) -> int:
    import jax

    from figures.rubric_world import render
    from rewards.runs import RunConfigMismatch, open_run
    from sim.rubric_experiments import QUICK, ExperimentConfig, report, run

    p = _parser()
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        config = config_from_args(ExperimentConfig, args, base=QUICK if args.quick else None)
        rd = open_run(args.out, config.to_dict(), overwrite=args.overwrite, kind="sim-rubric-world")
    except (ValueError, RunConfigMismatch) as e:
        p.error(str(e))
    out = rd.path
    if rd.finished:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        emit({**_headline(out, summary), "skipped": True, "reason": "finished run with the same config"})
        return 0
    t0 = time.perf_counter()
    result = run(
        config,
        jax.random.key(config.seed),
        log_dir=(out / "refine_logs") if args.refine_logs else None,
        progress=lambda s: print(f"[rubric-world] {s}", file=sys.stderr, flush=True),
    )
    sm = report(result, out)
    render(out)
    seconds = time.perf_counter() - t0
    rd.finish(seconds=seconds)
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    emit({**_headline(out, {"holds": sm.holds(), **sm.to_dict()}), "seconds": round(seconds, 1), "files": files})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
