"""``chase repro``: the report of everything the package shows (the main job), and the report generators for docs/.

    chase repro [--profile smoke|quick|full] [--only ITEM,...] [--out DIR] [--overwrite]
        -> DIR/REPORT.md and DIR/report.html (paper_repro.report; `--list` names the items)
    chase repro bandit-findings [ARGS...]          -> docs/bandit_findings.md (paper_repro.bandit_findings)
    chase repro rubric-world-sensitivity [ARGS...] -> docs/rubric_world_sensitivity.md
    chase repro rubric-world-mechanisms [ARGS...]  -> docs/rubric_world_mechanisms.md
    chase repro grpo-small-beta [ARGS...]          -> the beta = 0.03 numbers in docs/bandit_findings.notes.md
    chase repro rubric-world-phase [ARGS...]       -> docs/rubric_world_findings.md (paper_repro.rubric_world_phase)
    chase repro prediction predict|measure WORLD, report -> docs/prediction.md (paper_repro.prediction)

ARGS go to the target unchanged (``chase repro TARGET --help`` lists them). The rubric world's findings (its phase
diagram over drawn worlds) come from ``rubric-world-phase``; the real-RFT runs from ``chase rft train``.
"""

from __future__ import annotations

import argparse
import sys

from chase.cli import Parser, dispatch

__all__ = ["TARGETS", "main", "report_main"]

TARGETS: dict[str, tuple[str, str]] = {
    "bandit-findings": ("paper_repro.bandit_findings", "quantile bandit vs theory, training dynamics (~10-30 min)"),
    "rubric-world-sensitivity": (
        "paper_repro.rubric_world_sensitivity",
        "rubric world findings under one-parameter changes (~6 min)",
    ),
    "rubric-world-mechanisms": (
        "paper_repro.rubric_world_mechanisms",
        "exact tilt vs GRPO (SGD, Adam, natural gradient) per rubric condition; tail-flaw variant (~5 min)",
    ),
    "rubric-world-phase": (
        "paper_repro.rubric_world_phase",
        "rubric world phase diagram over 16 drawn worlds, proposer knowledge 0.5-1.0 (~12-15 min)",
    ),
    "prediction": ("paper_repro.prediction", "pre-registered validation of chase diagnose (docs/prediction.md)"),
    "grpo-small-beta": ("paper_repro.grpo_small_beta", "sampled GRPO at beta = 0.03: NaN seeds and the rest (~17 min)"),
}


def _report_parser() -> argparse.ArgumentParser:
    targets = "\n".join(f"  {name:26s} {help_}" for name, (_m, help_) in TARGETS.items())
    p = Parser(
        prog="chase repro",
        description="Write one report (REPORT.md + self-contained report.html) of every item the package shows, "
        "with the paper's number, ours and a status.",
        epilog=f"single report generators (chase repro TARGET --help):\n{targets}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", default="quick", choices=("smoke", "quick", "full"), help="sizes (default: quick)")
    p.add_argument("--only", default="", help="comma-separated items (default: all; --list names them)")
    p.add_argument("--out", default="report", help="report folder (items cached in OUT/items)")
    p.add_argument("--overwrite", action="store_true", help="recompute items cached with another config")
    p.add_argument("--list", action="store_true", help="list the items and exit")
    p.add_argument("--readme", default="", help="also write this item table (paper_repro/README.md is one)")
    return p


def report_main(argv: list[str]) -> int:
    from paper_repro.report import build, select

    try:
        args = _report_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) and usage errors (2) return their code like every other command
        return int(e.code or 0)
    only = [s for s in args.only.split(",") if s]
    if args.list:
        for it in select(None):
            print(f"{it.name:28s} {it.section}: {it.title}")
        return 0
    reports = build(args.profile, only, args.out, args.overwrite)
    if args.readme:
        from paper_repro.report.render import readme_text
        from rewards.io import atomic_write_text

        atomic_write_text(args.readme, readme_text(reports, args.profile))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-"):
        return dispatch(argv, TARGETS, "chase repro", "target")
    return report_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
