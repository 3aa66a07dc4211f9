"""Regenerate docs/bandit_findings.md: the quantile-bandit simulator checked against theory/, and the
training-dynamics findings (top-band collapse, band-width sweep, beta > 0 convergence, heavy-tailed error).

    nice -n 10 python -m paper_repro.bandit_findings [--out runs/bandit_findings] [--doc docs/bandit_findings.md]
                                                     [--only bon,tilt,train,sweep,beta,error] [--overwrite]

Each section caches its numbers in OUT/<section>.json together with its config (``rewards.runs.cached``): a
rerun with the same config reuses them, a changed config is an error unless --overwrite. The report is
written from those files, so every number in it comes from a run; a section left out of --only is reported
from its cache when that holds the current config. Takes ~10-30 minutes on 2 busy cores (beta dominates).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from chase.cli import Parser
from paper_repro.bandit_findings import report
from paper_repro.bandit_findings import sections as S
from rewards.io import atomic_write_text
from rewards.runs import RunConfigMismatch, cached

__all__ = ["SECTIONS", "main", "run_sections"]

SECTIONS: dict[str, Any] = {
    "bon": S.BonSection(),
    "tilt": S.TiltSection(),
    "train": S.TrainSection(),
    "sweep": S.SweepSection(),
    "beta": S.BetaSection(),
    "error": S.ErrorSection(),
}


def _timed(section) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = section.compute()
    return {**data, "section_seconds": time.perf_counter() - t0}


def _stored_only(path: Path):
    def compute():
        raise AssertionError(f"{path}: not computed (section not selected)")  # cached() only calls it if missing

    return compute


def run_sections(sections: dict[str, Any], only: list[str], out: Path, overwrite: bool) -> list[tuple[dict, Any]]:
    """Compute (or load) the sections in ``only``; the others come from their caches when those hold the
    current config. Returns ``(data, section)`` pairs in registry order."""
    done = []
    for name, sec in sections.items():
        path = out / f"{name}.json"
        if name in only:
            done.append((cached(path, sec.config(), lambda s=sec: _timed(s), overwrite), sec))
        elif path.exists():
            try:
                done.append((cached(path, sec.config(), _stored_only(path)), sec))
            except RunConfigMismatch as e:
                print(f"{name}: left out of the report ({e}; select it with --only {name})", file=sys.stderr)
    return done


def _parser(names: list[str]) -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m paper_repro.bandit_findings",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/bandit_findings", help="cache folder, one JSON per section")
    p.add_argument("--doc", default="docs/bandit_findings.md", help="the report to write")
    p.add_argument("--only", default=",".join(names), help=f"comma-separated sections to run (of {','.join(names)})")
    p.add_argument("--overwrite", action="store_true", help="recompute selected sections cached with another config")
    return p


def main(argv: list[str] | None = None, sections: dict[str, Any] | None = None) -> int:
    """``sections``: the registry to run (tests pass tiny section configs); default :data:`SECTIONS`."""
    sections = SECTIONS if sections is None else sections
    p = _parser(list(sections))
    args = p.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(only) - set(sections))
    if unknown:
        p.error(f"--only: unknown section(s) {', '.join(unknown)}; expected some of {', '.join(sections)}")
    try:
        results = run_sections(sections, only, Path(args.out), args.overwrite)
    except RunConfigMismatch as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    cmd = f"nice -n 10 python -m paper_repro.bandit_findings --out {args.out} --doc {args.doc}"
    text = report.render(results, cmd)
    notes = Path(args.doc).with_suffix(".notes.md")
    if notes.exists():  # hand-written interpretation, kept beside the generated tables
        text += "\n" + notes.read_text()
    atomic_write_text(args.doc, text)
    print(f"wrote {args.doc}")
    return 0
